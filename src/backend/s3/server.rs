//! Server-side settings of a MinIO target: erasure-coding parity of new objects, set in the
//! server's settings file (`MINIO_STORAGE_CLASS_STANDARD=EC:N`, read at start) and applied
//! through the target's restart command. The parity line as it was (or its absence) is
//! captured and put back at revert; nothing else of the file is kept, since it may hold other
//! settings a journal must not copy. The parity is read back from the server
//! (`minio_cluster_config_standard_parity`) after each restart, so what is reported is what
//! the server runs with.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::model::Target;
use crate::backend::s3::spec::S3Target;
use crate::error::{Error, Result};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct ServerApplied {
    pub file: PathBuf,
    /// The file's `MINIO_STORAGE_CLASS_STANDARD=` line before the profile, if it had one.
    pub before_line: Option<String>,
    pub before_parity: u32,
    /// What the profile asks for until applied, then what the server runs with.
    pub after_parity: u32,
}

const PARITY_KEY: &str = "MINIO_STORAGE_CLASS_STANDARD=";

fn is_parity_line(l: &str) -> bool {
    l.trim_start().starts_with(PARITY_KEY)
}

fn err(t: &Target, what: &str, m: impl std::fmt::Display) -> Error {
    Error::target(format!("target {} ({}): {what}", t.name, t.url_redacted), m)
}

/// The settings file (a restart command is needed too), or a usage error naming what is
/// missing.
fn requirements(t: &Target, opts: &S3Target, profile: &str) -> Result<PathBuf> {
    match (&opts.settings_file, &t.restart_command) {
        (Some(f), Some(_)) => Ok(t.workdir.join(f)),
        _ => Err(Error::Usage(format!(
            "{profile} sets [server] parity, which MinIO reads at start: targets.{} needs settings_file (e.g. \"${{TUNEBENCH_CACHE:-../.cache}}/minio/env\") and restart_command (e.g. \"../scripts/stack restart minio\")",
            t.name
        ))),
    }
}

/// The standard-class parity the server runs with.
pub async fn parity(t: &Target) -> Result<u32> {
    let m = super::metrics::scrape_path(&t.url, "/minio/metrics/v3/cluster/config")
        .await
        .map_err(|e| err(t, "reading the server's parity", e))?;
    m.get("minio_cluster_config_standard_parity")
        .map(|v| *v as u32)
        .ok_or_else(|| {
            err(
                t,
                "reading the server's parity",
                "minio_cluster_config_standard_parity is not in the metrics",
            )
        })
}

/// `text` with MINIO_STORAGE_CLASS_STANDARD set to EC:`parity` (replaced or appended).
fn with_parity(text: &str, parity: u32) -> String {
    with_line(text, Some(&format!("{PARITY_KEY}EC:{parity}")))
}

/// `text` with its parity line replaced by `line` (appended when it had none), or removed
/// when `line` is None.
fn with_line(text: &str, line: Option<&str>) -> String {
    let Some(line) = line else {
        return text
            .lines()
            .filter(|l| !is_parity_line(l))
            .map(|l| format!("{l}\n"))
            .collect();
    };
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if is_parity_line(l) {
                found = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(line.to_string());
    }
    out.join("\n") + "\n"
}

async fn restart(t: &Target) -> Result<()> {
    crate::backend::model::run_restart_command(t, Duration::from_secs(180)).await
}

fn write(t: &Target, file: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(file, text).map_err(|e| err(t, &format!("writing {}", file.display()), e))
}

/// What applying `want` will change, read without changing anything (to be journaled).
pub async fn plan(t: &Target, opts: &S3Target, profile: &str, want: u32) -> Result<ServerApplied> {
    let file = requirements(t, opts, profile)?;
    let text = read(t, &file)?;
    Ok(ServerApplied {
        before_line: text
            .lines()
            .rfind(|l| is_parity_line(l))
            .map(str::to_string),
        file,
        before_parity: parity(t).await?,
        after_parity: want,
    })
}

fn read(t: &Target, file: &PathBuf) -> Result<String> {
    std::fs::read_to_string(file).map_err(|e| err(t, &format!("reading {}", file.display()), e))
}

/// Applies a planned parity; on success `a.after_parity` is what the server runs with.
pub async fn apply(t: &Target, a: &mut ServerApplied) -> Result<()> {
    let want = a.after_parity;
    let text = read(t, &a.file)?;
    write(t, &a.file, &with_parity(&text, want))?;
    let restarted = restart(t).await;
    let after = match restarted {
        Ok(()) => parity(t).await,
        Err(e) => Err(e),
    };
    match after {
        Ok(p) if p == want => {
            a.after_parity = p;
            Ok(())
        }
        other => {
            // Undo our own change before reporting.
            write(t, &a.file, &with_line(&text, a.before_line.as_deref()))?;
            restart(t).await?;
            Err(match other {
                Ok(p) => err(
                    t,
                    "applying parity",
                    format!("the server runs with EC:{p} after the restart, not EC:{want}"),
                ),
                Err(e) => e,
            })
        }
    }
}

/// Puts the captured parity line back, restarts, and returns a mismatch line if the server's
/// parity is not what it was.
pub async fn revert(t: &Target, opts: &S3Target, a: &ServerApplied) -> Result<Option<String>> {
    requirements(t, opts, "the profile")?;
    let text = read(t, &a.file)?;
    write(t, &a.file, &with_line(&text, a.before_line.as_deref()))?;
    restart(t).await?;
    let now = parity(t).await?;
    Ok((now != a.before_parity)
        .then(|| format!("parity is EC:{now} (expected EC:{})", a.before_parity)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parity_line_is_replaced_or_appended() {
        let t = "# c\nMINIO_STORAGE_CLASS_STANDARD=EC:2\nX=1\n";
        assert_eq!(
            super::with_parity(t, 1),
            "# c\nMINIO_STORAGE_CLASS_STANDARD=EC:1\nX=1\n"
        );
        assert_eq!(
            super::with_parity("X=1\n", 0),
            "X=1\nMINIO_STORAGE_CLASS_STANDARD=EC:0\n"
        );
        // Revert: the captured line back, or no line when there was none.
        let applied = super::with_parity(t, 1);
        assert_eq!(
            super::with_line(&applied, Some("MINIO_STORAGE_CLASS_STANDARD=EC:2")),
            t
        );
        assert_eq!(
            super::with_line(&super::with_parity("X=1\n", 0), None),
            "X=1\n"
        );
    }
}
