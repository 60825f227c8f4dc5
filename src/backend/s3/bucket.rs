//! Buckets: ownership (a `tunebench-` bucket tunebench created carries its tag; any other
//! is refused), loading a dataset, and reading and writing a bucket's configuration (what a
//! profile asks of it is in `profile.rs`).

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    ExpirationStatus, LifecycleExpiration, LifecycleRule as SdkRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, Tag, Tagging, VersioningConfiguration,
};
use futures_util::{StreamExt, TryStreamExt};

use super::{OWNER_TAG, target_error};
use crate::backend::model::Target;
use crate::backend::s3::BucketConfig;
use crate::backend::s3::spec::LifecycleRule;
use crate::dataset::objects::{DATA_PREFIX, ObjectSet, SCRATCH_PREFIX};
use crate::error::{Error, Result};

const MARKER: &str = "tunebench-dataset.json";

/// Creates the bucket with tunebench's tag, or accepts it when it already carries the tag.
pub async fn ensure_owned(client: &Client, t: &Target, bucket: &str) -> Result<bool> {
    match client.head_bucket().bucket(bucket).send().await {
        Ok(_) => {
            check_owned(client, t, bucket).await?;
            Ok(false)
        }
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {
            client
                .create_bucket()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| target_error(t, &format!("creating bucket {bucket}"), e))?;
            let tag = Tag::builder()
                .key(OWNER_TAG.0)
                .value(OWNER_TAG.1)
                .build()
                .expect("key and value set");
            client
                .put_bucket_tagging()
                .bucket(bucket)
                .tagging(Tagging::builder().tag_set(tag).build().expect("tags set"))
                .send()
                .await
                .map_err(|e| target_error(t, &format!("tagging bucket {bucket}"), e))?;
            Ok(true)
        }
        Err(e) => Err(target_error(t, &format!("looking up bucket {bucket}"), e)),
    }
}

pub async fn check_owned(client: &Client, t: &Target, bucket: &str) -> Result<()> {
    let tags = match client.get_bucket_tagging().bucket(bucket).send().await {
        Ok(r) => r.tag_set().to_vec(),
        Err(e) if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchTagSet") => {
            Vec::new()
        }
        Err(e) => {
            return Err(target_error(
                t,
                &format!("reading tags of bucket {bucket}"),
                e,
            ));
        }
    };
    if tags
        .iter()
        .any(|tag| tag.key() == OWNER_TAG.0 && tag.value() == OWNER_TAG.1)
    {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "target {} ({}): {}",
            t.name,
            t.url_redacted,
            format_args!(
                "bucket {bucket} exists but was not created by tunebench (it lacks the tag {}={}); refusing to touch it: choose another bucket name in the dataset file",
                OWNER_TAG.0, OWNER_TAG.1
            )
        )))
    }
}

/// Keys under `prefix` (current objects only).
pub async fn count(client: &Client, t: &Target, bucket: &str, prefix: &str) -> Result<u64> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page
            .map_err(|e| target_error(t, &format!("listing {bucket}/{prefix}"), e))?
            .key_count()
            .unwrap_or(0) as u64;
    }
    Ok(n)
}

/// Up to `max` (key, size) under `bucket`/`prefix`, in listing order (read only).
pub async fn list(
    client: &Client,
    t: &Target,
    bucket: &str,
    prefix: &str,
    max: usize,
) -> Result<Vec<(String, u64)>> {
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| target_error(t, &format!("listing {bucket}/{prefix}"), e))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                out.push((k.to_string(), o.size().unwrap_or(0).max(0) as u64));
            }
        }
        if out.len() >= max {
            out.truncate(max);
            break;
        }
    }
    Ok(out)
}

/// Loads the dataset unless the bucket already holds this exact one (marker + count).
/// Returns whether it loaded.
pub async fn load(
    client: &Client,
    t: &Target,
    set: &ObjectSet,
    dataset: &crate::backend::Dataset,
) -> Result<bool> {
    let bucket = &set.spec.bucket;
    let hash = set.spec.hash();
    if let Ok(r) = client.get_object().bucket(bucket).key(MARKER).send().await
        && let Ok(body) = r.body.collect().await
        && body.into_bytes().as_ref() == hash.as_bytes()
        && count(client, t, bucket, DATA_PREFIX).await? == set.objects.len() as u64
    {
        return Ok(false);
    }
    dataset.may_load()?;
    purge(client, t, bucket, DATA_PREFIX).await?;
    futures_util::stream::iter(set.objects.iter())
        .map(|(key, size)| async move {
            // Dataset objects are written whole; multipart is what workloads measure.
            client
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(set.content(key, 0, *size)))
                .send()
                .await
                .map_err(|e| target_error(t, &format!("uploading {bucket}/{key}"), e))
        })
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
    client
        .put_object()
        .bucket(bucket)
        .key(MARKER)
        .body(ByteStream::from(hash.into_bytes()))
        .send()
        .await
        .map_err(|e| target_error(t, &format!("writing {bucket}/{MARKER}"), e))?;
    Ok(true)
}

/// Deletes every version and delete marker under `prefix` of a tunebench bucket.
pub async fn purge(client: &Client, t: &Target, bucket: &str, prefix: &str) -> Result<u64> {
    let mut removed = 0;
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| target_error(t, &format!("listing versions of {bucket}/{prefix}"), e))?;
        let mut victims: Vec<(String, Option<String>)> = page
            .versions()
            .iter()
            .map(|v| {
                (
                    v.key().unwrap_or_default().to_string(),
                    v.version_id().map(str::to_string),
                )
            })
            .collect();
        victims.extend(page.delete_markers().iter().map(|m| {
            (
                m.key().unwrap_or_default().to_string(),
                m.version_id().map(str::to_string),
            )
        }));
        if victims.is_empty() {
            return Ok(removed);
        }
        for (key, version) in victims {
            client
                .delete_object()
                .bucket(bucket)
                .key(&key)
                .set_version_id(version.filter(|v| v != "null").or(Some("null".into())))
                .send()
                .await
                .map_err(|e| target_error(t, &format!("deleting {bucket}/{key}"), e))?;
            removed += 1;
        }
    }
}

/// (versions, current objects) under the scratch prefix.
pub async fn scratch_counts(client: &Client, t: &Target, bucket: &str) -> Result<(u64, u64)> {
    let mut versions = 0;
    let mut marker: Option<(String, Option<String>)> = None;
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(SCRATCH_PREFIX)
            .set_key_marker(marker.as_ref().map(|m| m.0.clone()))
            .set_version_id_marker(marker.as_ref().and_then(|m| m.1.clone()))
            .send()
            .await
            .map_err(|e| target_error(t, "listing scratch versions", e))?;
        versions += page.versions().len() as u64;
        if page.is_truncated() != Some(true) {
            break;
        }
        marker = Some((
            page.next_key_marker().unwrap_or_default().to_string(),
            page.next_version_id_marker().map(str::to_string),
        ));
    }
    Ok((versions, count(client, t, bucket, SCRATCH_PREFIX).await?))
}

pub async fn read_config(client: &Client, t: &Target, bucket: &str) -> Result<BucketConfig> {
    let versioning = client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| target_error(t, "GetBucketVersioning", e))?
        .status()
        .map_or("Unversioned".to_string(), |s| s.as_str().to_string());
    let lifecycle = match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(r) => r.rules().iter().map(from_sdk).collect(),
        Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) => return Err(target_error(t, "GetBucketLifecycleConfiguration", e)),
    };
    let policy = match client.get_bucket_policy().bucket(bucket).send().await {
        Ok(r) => r.policy().and_then(|p| serde_json::from_str(p).ok()),
        Err(e) if code(&e) == Some("NoSuchBucketPolicy") => None,
        Err(e) => return Err(target_error(t, "GetBucketPolicy", e)),
    };
    Ok(BucketConfig {
        bucket: bucket.to_string(),
        versioning,
        lifecycle,
        policy,
    })
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> Option<&str> {
    e.as_service_error().and_then(|s| s.code())
}

fn from_sdk(r: &SdkRule) -> LifecycleRule {
    LifecycleRule {
        id: r.id().unwrap_or_default().to_string(),
        prefix: r
            .filter()
            .and_then(|f| f.prefix())
            .unwrap_or_default()
            .to_string(),
        expire_days: r.expiration().and_then(|e| e.days()),
        noncurrent_days: r
            .noncurrent_version_expiration()
            .and_then(|e| e.noncurrent_days()),
        abort_incomplete_days: r
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
    }
}

fn to_sdk(r: &LifecycleRule) -> SdkRule {
    SdkRule::builder()
        .id(&r.id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build())
        .set_expiration(
            r.expire_days
                .map(|d| LifecycleExpiration::builder().days(d).build()),
        )
        .set_noncurrent_version_expiration(r.noncurrent_days.map(|d| {
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(d)
                .build()
        }))
        .set_abort_incomplete_multipart_upload(r.abort_incomplete_days.map(|d| {
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(d)
                .build()
        }))
        .build()
        .expect("status set")
}

/// Writes `want` over the bucket's current configuration, field by field.
pub async fn write_config(client: &Client, t: &Target, want: &BucketConfig) -> Result<()> {
    let bucket = &want.bucket;
    let now = read_config(client, t, bucket).await?;
    if now.versioning != want.versioning && want.versioning != "Unversioned" {
        client
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::from(want.versioning.as_str()))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| target_error(t, "PutBucketVersioning", e))?;
    }
    if now.lifecycle != want.lifecycle {
        if want.lifecycle.is_empty() {
            client
                .delete_bucket_lifecycle()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| target_error(t, "DeleteBucketLifecycle", e))?;
        } else {
            client
                .put_bucket_lifecycle_configuration()
                .bucket(bucket)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(want.lifecycle.iter().map(to_sdk).collect()))
                        .build()
                        .expect("rules set"),
                )
                .send()
                .await
                .map_err(|e| target_error(t, "PutBucketLifecycleConfiguration", e))?;
        }
    }
    if now.policy != want.policy {
        match &want.policy {
            None => client
                .delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| target_error(t, "DeleteBucketPolicy", e))?,
            Some(p) => client
                .put_bucket_policy()
                .bucket(bucket)
                .policy(p.to_string())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| target_error(t, "PutBucketPolicy", e))?,
        }
    }
    Ok(())
}
