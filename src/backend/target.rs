//! What every store does with its target alike: reading the target's own fields (for the
//! store's `spec::target_options`), naming it in runtime errors, running its restart command.

use std::path::PathBuf;
use std::time::Duration;

use super::model::Target;
use crate::error::{Error, InputIssue, Result};
use crate::source::SourceFile;

/// A target's own fields as written, for its store's `spec::target_options` to take: string
/// values are interpolated (`${VAR:-default}`), secrets registered for masking, problems
/// located in the scenario file.
pub struct TargetFields<'a> {
    pub src: &'a SourceFile,
    /// `targets.NAME`.
    pub field: String,
    pub table: toml::Table,
    pub issues: &'a mut Vec<InputIssue>,
}

impl TargetFields<'_> {
    /// The string value of `name`, interpolated; None when absent (or wrong, with an issue).
    pub fn text(&mut self, name: &str) -> Option<String> {
        let at = format!("{}.{name}", self.field);
        match self.table.get(name)? {
            toml::Value::String(v) => match crate::source::interpolate(v) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.issues.push(self.src.issue(&at, e));
                    None
                }
            },
            _ => {
                self.issues.push(self.src.issue(&at, "must be a string"));
                None
            }
        }
    }

    /// Like `text`, and the value is masked wherever it would be shown from now on.
    pub fn secret(&mut self, name: &str) -> Option<String> {
        let v = self.text(name)?;
        crate::secrets::register(&v);
        Some(v)
    }

    /// A folder or file, relative to the scenario's folder.
    pub fn path(&mut self, name: &str) -> Option<PathBuf> {
        self.text(name).map(|p| self.src.resolve(&p))
    }

    /// Reports `message` about the target (`name`: one of its fields, or the target itself).
    pub fn problem(&mut self, name: Option<&str>, message: impl Into<String>) {
        let at = match name {
            Some(n) => format!("{}.{n}", self.field),
            None => self.field.clone(),
        };
        self.issues.push(self.src.issue(&at, message));
    }
}

/// A runtime error about a target (exit 3), naming it by its redacted URL.
pub fn target_error(target: &Target, what: &str, e: impl std::fmt::Display) -> Error {
    Error::target(
        format!("target {} ({}): {what}", target.name, target.url_redacted),
        e,
    )
}

/// Runs a target's restart command (`sh -c`, in the scenario's folder, no stdin) and waits at
/// most `limit` for it; its stderr is in the error when it fails. A target without one is a
/// runtime error (the server waits for a restart tunebench cannot do), never a panic.
pub async fn run_restart_command(target: &Target, limit: Duration) -> Result<()> {
    let Some(cmd) = target.restart_command.as_deref() else {
        return Err(target_error(
            target,
            "restart",
            format!(
                "the server needs a restart but targets.{}.restart_command is not set; restart it by hand",
                target.name
            ),
        ));
    };
    tracing::info!("restarting target {} with `{cmd}`", target.name);
    let output = tokio::time::timeout(
        limit,
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&target.workdir)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| {
        target_error(
            target,
            "restart",
            format!("`{cmd}` did not finish within {} s", limit.as_secs()),
        )
    })?
    .map_err(|e| target_error(target, "restart", format!("cannot run `{cmd}`: {e}")))?;
    if !output.status.success() {
        return Err(target_error(
            target,
            "restart",
            format!(
                "`{cmd}` failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(())
}
