//! The journal kept on the MinIO / S3 server too, so a run from another machine sees a
//! profile left applied and can revert it: one object `<bucket>.json` per dataset bucket in
//! tunebench's own bucket `tunebench-journal` (created, tagged, on first use; never versioned
//! nor given a lifecycle by a profile), written with the cache journal before each change and
//! deleted by the revert that restores it.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;

use super::target_error;
use crate::backend::journal::Entry;
use crate::backend::model::{self, Target};
use crate::error::Result;

/// tunebench's bucket for the journal; a dataset may not use it.
pub const BUCKET: &str = crate::dataset::objects::JOURNAL_BUCKET;

fn key(bucket: &str) -> String {
    format!("{bucket}.json")
}

/// Writes (replaces) the entry of the profile applied to `bucket`, before the change it
/// announces.
pub async fn put(client: &Client, t: &Target, bucket: &str, entry: &Entry) -> Result<()> {
    let what = format!(
        "writing the journal to {BUCKET}/{} before changing anything",
        key(bucket)
    );
    super::bucket::ensure_owned(client, t, BUCKET).await?;
    let json = serde_json::to_vec(entry).map_err(|e| model::target_error(t, &what, e))?;
    client
        .put_object()
        .bucket(BUCKET)
        .key(key(bucket))
        .content_type("application/json")
        .body(ByteStream::from(json))
        .send()
        .await
        .map_err(|e| target_error(t, &what, e))?;
    Ok(())
}

/// Removes the entry of `bucket` (none is fine).
pub async fn delete(client: &Client, t: &Target, bucket: &str) -> Result<()> {
    match client
        .delete_object()
        .bucket(BUCKET)
        .key(key(bucket))
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if no_bucket(&e) => Ok(()),
        Err(e) => Err(target_error(
            t,
            &format!(
                "removing the server's journal entry {BUCKET}/{}",
                key(bucket)
            ),
            e,
        )),
    }
}

/// Every entry on the server (none when the bucket was never created). An entry this
/// version cannot read is reported as one that cannot be reverted automatically.
pub async fn list(client: &Client, t: &Target) -> Result<Vec<std::result::Result<Entry, String>>> {
    let what = "reading the server's journal (bucket tunebench-journal)".to_string();
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(BUCKET)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => keys.extend(
                p.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            ),
            Err(e) if no_bucket(&e) => return Ok(Vec::new()),
            Err(e) => return Err(target_error(t, &what, e)),
        }
    }
    let mut out = Vec::new();
    for k in keys {
        let body = client
            .get_object()
            .bucket(BUCKET)
            .key(&k)
            .send()
            .await
            .map_err(|e| target_error(t, &what, e))?
            .body
            .collect()
            .await
            .map_err(|e| model::target_error(t, &what, e))?
            .into_bytes();
        out.push(serde_json::from_slice::<Entry>(&body).map_err(|e| {
            format!("{BUCKET}/{k} is not a journal entry this tunebench reads ({e}); restore that bucket's profile by hand, then delete the object")
        }));
    }
    // Oldest first, as written.
    out.sort_by_key(|e| e.as_ref().ok().map(|e| e.written_at.clone()));
    Ok(out)
}

fn no_bucket<E: aws_sdk_s3::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_s3::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("NoSuchBucket")
}
