//! The Qdrant recovery drill, snapshot (`method = "snapshot"`): the dataset's collection
//! backed up (server: a snapshot made through the REST API and downloaded; embedded: the
//! shard flushed and its folder copied), restored as a scratch collection
//! (`tunebench_restore_…`: uploaded to the server, or copied into place and opened), its
//! index rebuilt until ready (part of RTO), then compared with the source point by point
//! (id, vector, payload) and dropped, also after a failure. The source is only read.

use std::collections::HashMap;
use std::path::Path;

use super::store::{QdrantData, QdrantStore};
use crate::backend::drill::{self, Drill, DrillReport, DrillRun, Integrity, Steps};
use crate::error::{Error, Result};

pub async fn snapshot(
    store: &QdrantStore,
    drill: &Drill,
    data: &QdrantData,
    run: &DrillRun<'_>,
) -> Result<DrillReport> {
    let engine = store.engine();
    let who = format!("drill {} on target {}", drill.name, drill.target);
    let fail = |m: String| Error::target(&who, m);
    let QdrantData::Set {
        set,
        collection: source_c,
    } = data
    else {
        return Err(Error::Usage(format!(
            "{who}: a drill backs up tunebench's collection; the target has no dataset"
        )));
    };
    remove_leftovers(store, &who, false).await;
    std::fs::create_dir_all(run.dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", run.dir.display())))?;
    let info = engine.info(source_c).await.map_err(&fail)?;
    drill::check_disk(run.dir, info.disk_bytes.unwrap_or(0), &who)?;
    let n = set.len() as u64;
    let expect_indexed = info.managed.expects_index(n, set.dim);
    let scratch = format!("tunebench_restore_{}", drill::scratch_suffix());

    let mut report = DrillReport::start(drill, run, String::new());
    report.source_bytes = info.disk_bytes;
    let mut steps = Steps::new();
    let mut backup_path: Option<std::path::PathBuf> = None;
    let mut how = "";
    let outcome = async {
        let source = steps
            .run("fingerprint source", async {
                let p = engine.prints(source_c).await?;
                let detail = format!("{} points", p.len());
                Ok((p, None, detail))
            })
            .await?;
        let (path, bytes) = steps
            .run("backup", async {
                let (path, bytes, said) = engine.snapshot(source_c, run.dir).await?;
                how = said;
                Ok(((path, bytes), Some(bytes), String::new()))
            })
            .await?;
        backup_path = Some(path.clone());
        report.backup_bytes = Some(bytes);
        if drill.inject == Some(drill::Fault::TruncateBackup) {
            let file =
                largest_file(&path).ok_or("the backup holds no file to plant the fault in")?;
            let len =
                drill::truncate_half(&file).map_err(|e| format!("planting the fault: {e}"))?;
            steps.steps.push(drill::DrillStep {
                step: "plant fault".into(),
                seconds: 0.0,
                bytes: Some(len),
                ok: true,
                detail: format!(
                    "{} truncated to half its length (inject = \"truncate_backup\")",
                    file.strip_prefix(run.dir).unwrap_or(&file).display()
                ),
            });
        }
        steps
            .run("restore", async {
                engine.restore(&path, &scratch).await?;
                Ok(((), None, scratch.clone()))
            })
            .await?;
        steps
            .run("index", async {
                engine.build_index(&scratch, expect_indexed).await?;
                Ok(((), None, String::new()))
            })
            .await?;
        let ready = steps
            .run("ready", async {
                let got = engine.info(&scratch).await?;
                if got.points == n && (!expect_indexed || got.indexed >= n) {
                    Ok((
                        (),
                        None,
                        format!("{} points, {} indexed", got.points, got.indexed),
                    ))
                } else {
                    Err(format!(
                        "the restored collection holds {} points ({} indexed) of {n}",
                        got.points, got.indexed
                    ))
                }
            })
            .await;
        report.rto_s = steps.seconds(&["restore", "index", "ready"]);
        ready?;
        let copy = steps
            .run("verify", async {
                let p = engine.prints(&scratch).await?;
                Ok((p, None, String::new()))
            })
            .await?;
        report.integrity = compare(&source, &copy);
        Ok::<(), String>(())
    }
    .await;

    let dropped = engine.drop_collection(&scratch).await;
    if let Err(e) = &dropped {
        tracing::warn!("{who}: could not drop the scratch collection {scratch}: {e}");
    }
    let removed = drill.keep_backup
        || backup_path.as_ref().is_none_or(|p| {
            if p.is_dir() {
                std::fs::remove_dir_all(p).is_ok()
            } else {
                std::fs::remove_file(p).is_ok() || !p.exists()
            }
        });
    report.how = format!(
        "collection {source_c} ({} engine): {}; restored as scratch collection {scratch}, ready once every point is indexed (the restore time counts any index rebuild), compared point by point and dropped",
        engine.mode(),
        if how.is_empty() {
            "backup not taken"
        } else {
            how
        }
    );
    report.cleaned_up = dropped.is_ok() && removed;
    report.backup_s = steps.seconds(&["backup"]);
    report.restore_s = steps.seconds(&["restore"]);
    report.steps = steps.steps;
    report.failure = outcome.err();
    Ok(report)
}

fn largest_file(path: &Path) -> Option<std::path::PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok()) {
            let p = e.path();
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) if best.as_ref().is_none_or(|(b, _)| m.len() > *b) => {
                    best = Some((m.len(), p))
                }
                _ => {}
            }
        }
    }
    best.map(|(_, p)| p)
}

/// Point by point: present in both, same hash of vector and payload.
fn compare(source: &[(String, u64)], copy: &[(String, u64)]) -> Integrity {
    let got: HashMap<&str, u64> = copy.iter().map(|(id, h)| (id.as_str(), *h)).collect();
    let want: HashMap<&str, u64> = source.iter().map(|(id, h)| (id.as_str(), *h)).collect();
    let mut differences = Vec::new();
    for (id, h) in source {
        match got.get(id.as_str()) {
            None => differences.push(format!("point {id} is missing")),
            Some(g) if g != h => differences.push(format!("point {id}: vector or payload differs")),
            Some(_) => {}
        }
    }
    for (id, _) in copy {
        if !want.contains_key(id.as_str()) {
            differences.push(format!("point {id} is not in the source"));
        }
    }
    Integrity::of(
        format!(
            "{} points: id, vector (every f32 exactly) and payload",
            source.len()
        ),
        source.len() as u64,
        differences,
    )
}

/// Scratch collections an earlier drill left (its process was killed before dropping them).
pub(super) async fn remove_leftovers(store: &QdrantStore, who: &str, own: bool) {
    let Ok(names) = store.engine().collections().await else {
        return;
    };
    for name in names
        .iter()
        .filter(|n| drill::stale(n, "tunebench_restore_", own))
    {
        match store.engine().drop_collection(name).await {
            Ok(()) => tracing::warn!("{who}: dropped collection {name}, left by an earlier drill"),
            Err(e) => tracing::warn!("{who}: collection {name} left by an earlier drill: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_names_missing_changed_and_extra_points() {
        let src = vec![
            ("1".to_string(), 10),
            ("2".to_string(), 20),
            ("3".to_string(), 30),
        ];
        assert_eq!(compare(&src, &src).verdict, drill::Verdict::Ok);
        let copy = vec![
            ("2".to_string(), 21),
            ("3".to_string(), 30),
            ("4".to_string(), 40),
        ];
        assert_eq!(
            compare(&src, &copy).differences,
            [
                "point 1 is missing",
                "point 2: vector or payload differs",
                "point 4 is not in the source"
            ]
        );
    }
}
