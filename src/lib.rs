//! tunebench: runs the same workloads before and after each tuning profile and writes one
//! results file and one report. `run` is the whole tool, callable in-process by tests.

pub mod backend;
pub mod cli;
pub mod compare;
pub mod dataset;
pub mod driver;
pub mod error;
pub mod host;
pub mod metrics;
pub mod report;
pub mod results;
mod runner;
pub mod scenario;

use std::path::{Path, PathBuf};

pub use cli::{Cli, Command, RunArgs};
pub use error::{Error, Result, exit};
pub use results::Results;

/// What a successful invocation produced. Errors are returned as [`Error`].
#[derive(Debug)]
pub struct Outcome {
    pub exit_code: i32,
    pub results_path: Option<PathBuf>,
    pub report_path: Option<PathBuf>,
    pub summary: String,
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Run(args) => runner::run(args).await,
        Command::Validate { scenarios } => validate(&scenarios),
        Command::Report {
            results,
            template,
            out,
        } => rerender(&results, template.as_deref(), out.as_deref()),
    }
}

fn validate(paths: &[PathBuf]) -> Result<Outcome> {
    let mut issues = Vec::new();
    let mut ok = Vec::new();
    for p in paths {
        match scenario::load(p) {
            Ok(s) => ok.push(format!(
                "{}: ok ({} workload(s), {} profile(s), {} criteria)",
                p.display(),
                s.workloads.len(),
                s.profiles.len(),
                s.criteria.len()
            )),
            Err(Error::Input(mut more)) => issues.append(&mut more),
            Err(e) => return Err(e),
        }
    }
    if issues.is_empty() {
        Ok(Outcome {
            exit_code: exit::OK,
            results_path: None,
            report_path: None,
            summary: ok.join("\n"),
        })
    } else {
        Err(Error::Input(issues))
    }
}

fn rerender(results: &Path, template: Option<&Path>, out: Option<&Path>) -> Result<Outcome> {
    let r = Results::read(results)?;
    let text = report::render(&r, template)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| results.with_file_name("report.md"));
    std::fs::write(&out, text).map_err(|e| Error::io(&out, e))?;
    Ok(Outcome {
        exit_code: exit::OK,
        results_path: Some(results.to_path_buf()),
        summary: format!("report written to {}", out.display()),
        report_path: Some(out),
    })
}
