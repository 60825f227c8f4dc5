//! The S3 recovery drill, mirror: every object of the dataset (every version and delete
//! marker when the bucket keeps versions) read into a local backup folder with its SHA-256,
//! then written in order into a scratch bucket (`tunebench-restore-…`, versioned like the
//! source), which is compared with the source object by object, version by version, and
//! removed afterwards, also after a failure. The source bucket is only read.

use std::path::{Path, PathBuf};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{bucket, describe};
use crate::backend::drill::{self, Drill, DrillReport, DrillRun, Integrity, Steps};
use crate::backend::model::Target;
use crate::dataset::objects::DATA_PREFIX;
use crate::error::{Error, Result};

/// Objects read or written at once.
const PARALLEL: usize = 8;

/// One version (or delete marker) of one object, as listed.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    /// The version id (`null` in a bucket that never kept versions).
    version: Option<String>,
    marker: bool,
    size: u64,
    modified: i64,
    /// SHA-256 (hex) of what was read; set by the backup.
    sha256: Option<String>,
}

pub async fn mirror(
    client: &Client,
    target: &Target,
    drill: &Drill,
    source: &str,
    run: &DrillRun<'_>,
) -> Result<DrillReport> {
    let who = format!("drill {} on target {}", drill.name, target.name);
    let versioned = matches!(
        client
            .get_bucket_versioning()
            .bucket(source)
            .send()
            .await
            .map_err(|e| Error::target(&who, describe(&e)))?
            .status(),
        Some(BucketVersioningStatus::Enabled | BucketVersioningStatus::Suspended)
    );
    let mut entries = list(client, source, versioned)
        .await
        .map_err(|e| Error::target(&who, e))?;
    let source_bytes: u64 = entries.iter().map(|e| e.size).sum();
    let folder = run.dir.join("backup");
    std::fs::create_dir_all(&folder)
        .map_err(|e| Error::target(&who, format!("cannot create {}: {e}", folder.display())))?;
    drill::check_disk(&folder, source_bytes, &who)?;

    remove_leftovers(client, target, &who, false).await;
    let scratch = format!(
        "tunebench-restore-{}",
        drill::scratch_suffix().replace('_', "-")
    );
    let how = format!(
        "objects under {source}/{DATA_PREFIX}{} read into a local folder (SHA-256 each), written in order into scratch bucket {scratch} on the same server, then removed",
        if versioned {
            ", every version and delete marker (the bucket keeps versions)"
        } else {
            ""
        }
    );
    let mut report = DrillReport::start(drill, run, how);
    report.source_bytes = Some(source_bytes);
    let mut steps = Steps::new();
    let outcome = async {
        let versions = entries.iter().filter(|e| !e.marker).count();
        steps
            .run("backup", async {
                backup(client, source, &folder, &mut entries).await?;
                Ok((
                    (),
                    Some(source_bytes),
                    format!(
                        "{versions} objects{}",
                        if versioned { " (versions)" } else { "" }
                    ),
                ))
            })
            .await?;
        report.backup_bytes = Some(drill::folder_bytes(&folder));
        if drill.inject == Some(drill::Fault::TruncateBackup) {
            let (i, _) = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.marker)
                .max_by_key(|(_, e)| e.size)
                .ok_or("the bucket holds no object to plant the fault in")?;
            let len = drill::truncate_half(&file_of(&folder, i))
                .map_err(|e| format!("planting the fault: {e}"))?;
            steps.steps.push(drill::DrillStep {
                step: "plant fault".into(),
                seconds: 0.0,
                bytes: Some(len),
                ok: true,
                detail: format!(
                    "backup of {} truncated to half its length (inject = \"truncate_backup\")",
                    entries[i].key
                ),
            });
        }
        steps
            .run("create scratch bucket", async {
                bucket::ensure_owned(client, target, &scratch)
                    .await
                    .map_err(|e| e.to_string())?;
                if versioned {
                    client
                        .put_bucket_versioning()
                        .bucket(&scratch)
                        .versioning_configuration(
                            VersioningConfiguration::builder()
                                .status(BucketVersioningStatus::Enabled)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| describe(&e))?;
                }
                Ok(((), None, scratch.clone()))
            })
            .await?;
        steps
            .run("restore", async {
                restore(client, &scratch, &folder, &entries).await?;
                Ok(((), None, String::new()))
            })
            .await?;
        let ready = steps
            .run("ready", async {
                let got = list(client, &scratch, versioned).await?;
                if got.len() == entries.len() {
                    Ok(((), None, format!("{} entries listed", got.len())))
                } else {
                    Err(format!(
                        "the scratch bucket lists {} entries, the source {}",
                        got.len(),
                        entries.len()
                    ))
                }
            })
            .await;
        report.rto_s = steps.seconds(&["create scratch bucket", "restore", "ready"]);
        ready?;
        let copy = steps
            .run("verify", async {
                let mut got = list(client, &scratch, versioned).await?;
                hash_all(client, &scratch, &mut got).await?;
                Ok((got, None, String::new()))
            })
            .await?;
        report.integrity = compare(&entries, &copy);
        Ok::<(), String>(())
    }
    .await;

    let removed_bucket = remove_scratch(client, target, &scratch).await;
    let removed_files = drill.keep_backup || std::fs::remove_dir_all(&folder).is_ok();
    if let Err(e) = &removed_bucket {
        tracing::warn!("{who}: could not remove scratch bucket {scratch}: {e}");
    }
    report.cleaned_up = removed_bucket.is_ok() && removed_files;
    report.backup_s = steps.seconds(&["backup"]);
    report.restore_s = steps.seconds(&["restore"]);
    report.steps = steps.steps;
    report.failure = outcome.err();
    Ok(report)
}

/// The dataset's objects (every version and delete marker when `versioned`), ordered by key
/// and, per key, oldest first.
async fn list(
    client: &Client,
    bucket: &str,
    versioned: bool,
) -> std::result::Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    if !versioned {
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(DATA_PREFIX)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("listing {bucket}: {}", describe(&e)))?;
            for o in page.contents() {
                out.push(Entry {
                    key: o.key().unwrap_or_default().to_string(),
                    version: None,
                    marker: false,
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: 0,
                    sha256: None,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        return Ok(out);
    }
    let mut next: Option<(String, Option<String>)> = None;
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(DATA_PREFIX)
            .set_key_marker(next.as_ref().map(|m| m.0.clone()))
            .set_version_id_marker(next.as_ref().and_then(|m| m.1.clone()))
            .send()
            .await
            .map_err(|e| format!("listing versions of {bucket}: {}", describe(&e)))?;
        let millis = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.and_then(|t| t.to_millis().ok()).unwrap_or(0)
        };
        for v in page.versions() {
            out.push(Entry {
                key: v.key().unwrap_or_default().to_string(),
                version: v.version_id().map(str::to_string),
                marker: false,
                size: v.size().unwrap_or(0).max(0) as u64,
                modified: millis(v.last_modified()),
                sha256: None,
            });
        }
        for m in page.delete_markers() {
            out.push(Entry {
                key: m.key().unwrap_or_default().to_string(),
                version: m.version_id().map(str::to_string),
                marker: true,
                size: 0,
                modified: millis(m.last_modified()),
                sha256: None,
            });
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        next = Some((
            page.next_key_marker().unwrap_or_default().to_string(),
            page.next_version_id_marker().map(str::to_string),
        ));
    }
    // Stable: versions of one key listed newest first keep that order reversed on ties.
    out.reverse();
    out.sort_by(|a, b| a.key.cmp(&b.key).then(a.modified.cmp(&b.modified)));
    Ok(out)
}

fn file_of(folder: &Path, i: usize) -> PathBuf {
    folder.join(format!("{i:08}"))
}

/// Streams `key` (at `version`) into `sink` while hashing it; returns (bytes, sha256 hex).
async fn read_object(
    client: &Client,
    bucket: &str,
    e: &Entry,
    mut sink: Option<tokio::fs::File>,
) -> std::result::Result<(u64, String), String> {
    let r = client
        .get_object()
        .bucket(bucket)
        .key(&e.key)
        .set_version_id(e.version.clone())
        .send()
        .await
        .map_err(|x| format!("reading {bucket}/{}: {}", e.key, describe(&x)))?;
    let mut body = r.body;
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|x| format!("reading {bucket}/{}: {x}", e.key))?
    {
        hasher.update(&chunk);
        n += chunk.len() as u64;
        if let Some(f) = sink.as_mut() {
            f.write_all(&chunk).await.map_err(|x| x.to_string())?;
        }
    }
    if let Some(mut f) = sink {
        f.flush().await.map_err(|x| x.to_string())?;
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((n, hex))
}

async fn backup(
    client: &Client,
    bucket: &str,
    folder: &Path,
    entries: &mut [Entry],
) -> std::result::Result<(), String> {
    let hashes: Vec<(usize, String)> =
        futures_util::stream::iter(entries.iter().enumerate().filter(|(_, e)| !e.marker))
            .map(|(i, e)| async move {
                let path = file_of(folder, i);
                let f = tokio::fs::File::create(&path)
                    .await
                    .map_err(|x| format!("{}: {x}", path.display()))?;
                let (n, hex) = read_object(client, bucket, e, Some(f)).await?;
                if n != e.size {
                    return Err(format!(
                        "{bucket}/{}: read {n} bytes, listed as {}",
                        e.key, e.size
                    ));
                }
                Ok::<_, String>((i, hex))
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
    for (i, hex) in hashes {
        entries[i].sha256 = Some(hex);
    }
    Ok(())
}

/// Writes every key's versions in order (keys in parallel); a delete marker is replayed as
/// a delete.
async fn restore(
    client: &Client,
    scratch: &str,
    folder: &Path,
    entries: &[Entry],
) -> std::result::Result<(), String> {
    let mut by_key: Vec<Vec<usize>> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match by_key.last_mut() {
            Some(v) if entries[v[0]].key == e.key => v.push(i),
            _ => by_key.push(vec![i]),
        }
    }
    futures_util::stream::iter(by_key)
        .map(|idx| async move {
            for i in idx {
                let e = &entries[i];
                if e.marker {
                    client
                        .delete_object()
                        .bucket(scratch)
                        .key(&e.key)
                        .send()
                        .await
                        .map_err(|x| format!("deleting {scratch}/{}: {}", e.key, describe(&x)))?;
                    continue;
                }
                let body = ByteStream::from_path(file_of(folder, i))
                    .await
                    .map_err(|x| format!("backup of {}: {x}", e.key))?;
                client
                    .put_object()
                    .bucket(scratch)
                    .key(&e.key)
                    .body(body)
                    .send()
                    .await
                    .map_err(|x| format!("writing {scratch}/{}: {}", e.key, describe(&x)))?;
            }
            Ok::<(), String>(())
        })
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

async fn hash_all(
    client: &Client,
    bucket: &str,
    entries: &mut [Entry],
) -> std::result::Result<(), String> {
    let hashes: Vec<(usize, u64, String)> =
        futures_util::stream::iter(entries.iter().enumerate().filter(|(_, e)| !e.marker))
            .map(|(i, e)| async move {
                let (n, hex) = read_object(client, bucket, e, None).await?;
                Ok::<_, String>((i, n, hex))
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
    for (i, n, hex) in hashes {
        entries[i].size = n;
        entries[i].sha256 = Some(hex);
    }
    Ok(())
}

/// Key by key, version by version (oldest first): present, same kind, same size and hash.
fn compare(source: &[Entry], copy: &[Entry]) -> Integrity {
    let mut differences = Vec::new();
    let group = |list: &[Entry]| {
        let mut m: std::collections::BTreeMap<String, Vec<Entry>> = Default::default();
        for e in list {
            m.entry(e.key.clone()).or_default().push(e.clone());
        }
        m
    };
    let (src, dst) = (group(source), group(copy));
    for (key, versions) in &src {
        let Some(got) = dst.get(key) else {
            differences.push(format!("{key} is missing"));
            continue;
        };
        if got.len() != versions.len() {
            differences.push(format!(
                "{key}: {} versions restored, {} in the source",
                got.len(),
                versions.len()
            ));
            continue;
        }
        let n = versions.len();
        for (j, (s, c)) in versions.iter().zip(got).enumerate() {
            let at = if n > 1 {
                format!("{key} (version {} of {n})", j + 1)
            } else {
                key.clone()
            };
            if s.marker != c.marker {
                differences.push(format!("{at}: a delete marker in one copy only"));
            } else if s.size != c.size {
                differences.push(format!(
                    "{at}: {} bytes restored, {} in the source",
                    c.size, s.size
                ));
            } else if s.sha256 != c.sha256 {
                differences.push(format!("{at}: same size, different SHA-256"));
            }
        }
    }
    for key in dst.keys().filter(|k| !src.contains_key(*k)) {
        differences.push(format!("{key} is not in the source"));
    }
    let bytes: u64 = source.iter().map(|e| e.size).sum();
    Integrity::of(
        format!(
            "{} objects ({} entries, {bytes} bytes): key, version order, size and SHA-256",
            src.len(),
            source.len()
        ),
        source.len() as u64,
        differences,
    )
}

/// Removes scratch buckets an earlier drill left (its process was killed before removing
/// them); only tunebench's own (tagged) buckets.
pub(super) async fn remove_leftovers(client: &Client, target: &Target, who: &str, own: bool) {
    let Ok(list) = client.list_buckets().send().await else {
        return;
    };
    for name in list
        .buckets()
        .iter()
        .filter_map(|b| b.name())
        .filter(|n| drill::stale(n, "tunebench-restore-", own))
    {
        match remove_scratch(client, target, name).await {
            Ok(()) => tracing::warn!(
                "{who}: removed scratch bucket {name}, left by an earlier drill that did not finish"
            ),
            Err(e) => tracing::warn!(
                "{who}: scratch bucket {name} left by an earlier drill: cannot remove it: {e}"
            ),
        }
    }
}

async fn remove_scratch(client: &Client, target: &Target, scratch: &str) -> Result<()> {
    debug_assert!(scratch.starts_with("tunebench-restore-"));
    match client.head_bucket().bucket(scratch).send().await {
        Ok(_) => {}
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => return Ok(()),
        Err(e) => return Err(Error::target(format!("bucket {scratch}"), describe(&e))),
    }
    bucket::check_owned(client, target, scratch).await?;
    bucket::purge(client, target, scratch, "").await?;
    client
        .delete_bucket()
        .bucket(scratch)
        .send()
        .await
        .map_err(|e| Error::target(format!("deleting bucket {scratch}"), describe(&e)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(key: &str, size: u64, sha: &str) -> Entry {
        Entry {
            key: key.into(),
            version: None,
            marker: false,
            size,
            modified: 0,
            sha256: Some(sha.into()),
        }
    }

    #[test]
    fn compare_names_each_difference() {
        let src = vec![
            e("a", 3, "x"),
            e("a", 4, "y"),
            e("b", 5, "z"),
            e("c", 1, "w"),
        ];
        let ok = compare(&src, &src);
        assert_eq!(ok.verdict, drill::Verdict::Ok);
        assert_eq!(ok.items, 4);
        let copy = vec![
            e("a", 3, "x"),
            e("a", 2, "y"),
            e("b", 5, "q"),
            e("d", 1, "w"),
        ];
        let bad = compare(&src, &copy);
        assert_eq!(
            bad.differences,
            vec![
                "a (version 2 of 2): 2 bytes restored, 4 in the source",
                "b: same size, different SHA-256",
                "c is missing",
                "d is not in the source",
            ]
        );
    }
}
