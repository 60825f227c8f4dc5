//! Server-side settings of a MinIO target: erasure-coding parity of new objects, set in the
//! server's settings file (`MINIO_STORAGE_CLASS_STANDARD=EC:N`, read at start) and applied
//! through the target's restart command. The file's exact text is captured and written back
//! at revert; the parity is read back from the server (`minio_cluster_config_standard_parity`)
//! after each restart, so what is reported is what the server runs with.

use std::path::PathBuf;
use std::time::Duration;

use crate::backend::model::Target;
use crate::error::{Error, Result};

pub struct ServerApplied {
    pub file: PathBuf,
    pub before_text: String,
    pub before_parity: u32,
    pub after_parity: u32,
}

fn err(t: &Target, what: &str, m: impl std::fmt::Display) -> Error {
    Error::target(format!("target {} ({}): {what}", t.name, t.url_redacted), m)
}

/// The settings file (a restart command is needed too), or a usage error naming what is
/// missing.
fn requirements(t: &Target, profile: &str) -> Result<PathBuf> {
    match (&t.settings_file, &t.restart_command) {
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
    let line = format!("MINIO_STORAGE_CLASS_STANDARD=EC:{parity}");
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("MINIO_STORAGE_CLASS_STANDARD=") {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(line);
    }
    out.join("\n") + "\n"
}

async fn restart(t: &Target) -> Result<()> {
    crate::backend::model::run_restart_command(t, Duration::from_secs(180)).await
}

fn write(t: &Target, file: &PathBuf, text: &str) -> Result<()> {
    std::fs::write(file, text).map_err(|e| err(t, &format!("writing {}", file.display()), e))
}

pub async fn apply(t: &Target, profile: &str, want: u32) -> Result<ServerApplied> {
    let file = requirements(t, profile)?;
    let before_text = std::fs::read_to_string(&file)
        .map_err(|e| err(t, &format!("reading {}", file.display()), e))?;
    let before_parity = parity(t).await?;
    write(t, &file, &with_parity(&before_text, want))?;
    let restarted = restart(t).await;
    let after = match restarted {
        Ok(()) => parity(t).await,
        Err(e) => Err(e),
    };
    match after {
        Ok(p) if p == want => Ok(ServerApplied {
            file,
            before_text,
            before_parity,
            after_parity: p,
        }),
        other => {
            // Undo our own change before reporting.
            write(t, &file, &before_text)?;
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

/// Writes the captured file back, restarts, and returns a mismatch line if the server's
/// parity is not what it was.
pub async fn revert(t: &Target, a: &ServerApplied) -> Result<Option<String>> {
    requirements(t, "the profile")?;
    write(t, &a.file, &a.before_text)?;
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
    }
}
