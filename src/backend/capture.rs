//! What every `tunebench capture` writes: a new workload file (never over an existing one),
//! its ops' parameter values as CSV files in `STEM-params/` beside it, each op ready to replay
//! or commented out until its parameters have a source, and a closing hint of the scenario
//! workload that replays the ready ones.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub struct CaptureOut {
    out: PathBuf,
    stem: String,
    params_dir_name: String,
    params_dir: PathBuf,
    /// The file so far: its header first, then each op.
    pub text: String,
    ready: Vec<(String, u32)>,
    waiting: Vec<String>,
}

impl CaptureOut {
    /// Refuses an `out` that exists (nothing is written until [`CaptureOut::finish`]).
    pub fn new(out: &Path) -> Result<Self> {
        if out.exists() {
            return Err(Error::Usage(format!(
                "--out {}: the file exists; capture writes a new workload file and does not overwrite one",
                out.display()
            )));
        }
        let stem = out
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("captured")
            .to_string();
        let params_dir_name = format!("{stem}-params");
        let params_dir = out
            .parent()
            .unwrap_or(Path::new("."))
            .join(&params_dir_name);
        Ok(CaptureOut {
            out: out.to_path_buf(),
            stem,
            params_dir_name,
            params_dir,
            text: String::new(),
            ready: Vec::new(),
            waiting: Vec::new(),
        })
    }

    /// Writes op `name`'s parameter rows under `header` to `STEM-params/NAME.csv`; returns the
    /// path as the workload file names it.
    pub fn params(
        &self,
        name: &str,
        header: &[String],
        rows: impl IntoIterator<Item = Vec<String>>,
    ) -> Result<String> {
        std::fs::create_dir_all(&self.params_dir).map_err(|e| Error::io(&self.params_dir, e))?;
        let file = self.params_dir.join(format!("{name}.csv"));
        let csv_err =
            |e: csv::Error| Error::Usage(format!("{}: cannot be written: {e}", file.display()));
        let mut w = csv::Writer::from_path(&file).map_err(csv_err)?;
        w.write_record(header).map_err(csv_err)?;
        for row in rows {
            w.write_record(&row).map_err(csv_err)?;
        }
        w.flush().map_err(|e| Error::io(&file, e))?;
        Ok(format!("{}/{name}.csv", self.params_dir_name))
    }

    /// Adds op `name`: `preamble` (comment lines) then `body` (its TOML), commented out when
    /// its parameters have no source yet.
    pub fn op(&mut self, name: String, weight: u32, preamble: &str, body: &str, commented: bool) {
        self.text.push_str(preamble);
        if commented {
            self.text
                .push_str(&body.lines().map(|l| format!("# {l}\n")).collect::<String>());
            self.waiting.push(name);
        } else {
            self.text.push_str(body);
            self.ready.push((name, weight));
        }
    }

    /// Writes the file, with the hint of a workload (no dataset, on `target`, reading `what`)
    /// over the ready ops; returns the summary, `captured` first.
    pub fn finish(mut self, target: &str, what: &str, captured: &str) -> Result<String> {
        self.text.push_str(&format!(
            "\n# A scenario's workload for these ops (no dataset: read only, on the {what} already there):\n\
             # [[workload]]\n# name = \"{}\"\n# target = \"{target}\"\n# definition = \"{}\"\n# ops = [{}]\n",
            self.stem,
            self.out.file_name().and_then(|f| f.to_str()).unwrap_or_default(),
            self.ready
                .iter()
                .map(|(n, w)| format!("{{ op = \"{n}\", weight = {w} }}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        std::fs::write(&self.out, &self.text).map_err(|e| Error::io(&self.out, e))?;
        Ok(format!(
            "{captured} into {}: {} ready to replay{}",
            self.out.display(),
            self.ready.len(),
            if self.waiting.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} commented out until their parameters have a source ({})",
                    self.waiting.len(),
                    self.waiting.join(", ")
                )
            }
        ))
    }
}

/// `s` as a TOML string literal.
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
