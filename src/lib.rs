//! tunebench: runs the same workloads before and after each tuning profile and writes one
//! results file and one report. `run` is the whole tool, callable in-process by tests.

pub mod backend;
pub mod cli;
pub mod compare;
pub mod comparison;
pub mod dataset;
pub mod driver;
pub mod error;
pub mod export;
pub mod gate;
pub mod history;
pub mod host;
pub mod merge;
pub mod metrics;
pub mod report;
pub mod results;
mod runner;
pub mod scenario;
pub mod secrets;
pub mod source;
pub mod stats;

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
        Command::Worker(a) => {
            runner::shard::worker(runner::shard::WorkerArgs {
                scenario: a.scenario,
                shard: a.shard,
                start_at: a.start_at,
                out: a.out,
                profile: a.profile,
                trials: (!a.trial.is_empty()).then_some(a.trial),
                phase_gap: a.phase_gap,
                rendezvous: a.rendezvous,
                wait: a.wait,
                overrides: a.load.scenario(Vec::new()),
            })
            .await
        }
        Command::Merge { parts, out } => merge_parts(&parts, &out).await,
        Command::Validate { scenarios } => validate(&scenarios),
        Command::Check { scenario, json } => runner::check(&scenario, json.as_deref()).await,
        Command::Revert { scenario } => runner::revert_command(scenario.as_deref()).await,
        Command::Compare(args) => compare_files(&args).await,
        Command::Export {
            results,
            format,
            out,
        } => export(&results, format, out.as_deref()),
        Command::Capture(cli::CaptureCommand::Postgres(a)) => {
            backend::postgres::capture::capture(&backend::postgres::capture::CaptureArgs {
                url: a.url,
                out: a.out,
                top: a.top,
                log: a.log,
                matching: a.matching,
                min_calls: a.min_calls,
                max_rows: a.max_rows,
                since: a.since,
            })
            .await
        }
        Command::Capture(cli::CaptureCommand::Neo4j(a)) => {
            backend::neo4j::capture::capture(&backend::neo4j::capture::CaptureArgs {
                url: a.url,
                user: a.user,
                password: a.password.ok_or_else(|| {
                    Error::Usage(
                        "capture neo4j reads the password from TUNEBENCH_NEO4J_PASSWORD; set it"
                            .into(),
                    )
                })?,
                out: a.out,
                top: a.top,
                watch: a.watch,
                from_file: a.from_file,
                matching: a.matching,
                max_rows: a.max_rows,
                interval: a.interval,
            })
            .await
        }
        Command::Report {
            results,
            template,
            out,
            format,
        } => rerender(&results, template.as_deref(), out.as_deref(), format),
    }
}

/// `tunebench merge`: the parts merged, the criteria judged again, results.json and its
/// report written; exit 1 when a criterion fails under the last profile, as `run` does.
async fn merge_parts(paths: &[PathBuf], out: &std::path::Path) -> Result<Outcome> {
    let parts = merge::read_parts(paths).await?;
    let mut merged = merge::merge(&parts)?;
    let criteria = merge::criteria_of(&merged)?;
    for run in &mut merged.runs {
        run.criteria =
            runner::evaluate_criteria(&criteria, &run.workloads, &run.server, &run.drills);
    }
    if let Some(m) = merged.merged.as_mut() {
        m.notes.push(
            "environment, datasets and readiness are shard 0's (its host, its reading of the servers)"
                .into(),
        );
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let results_path = out.join("results.json");
    merged.write(&results_path)?;
    let report_path = out.join("report.md");
    report::write(
        &merged,
        None,
        &[(cli::ReportFormat::Md, report_path.as_path())],
    )?;
    let failed: Vec<&str> = merged
        .runs
        .last()
        .iter()
        .flat_map(|r| r.criteria.iter())
        .filter(|c| !c.passed)
        .map(|c| c.criterion.as_str())
        .collect();
    let mut summary = format!(
        "merged {} shards\nresults: {}\nreport:  {}",
        parts.len(),
        results_path.display(),
        report_path.display()
    );
    for c in &failed {
        summary.push_str(&format!("\ncriterion failed: {c}"));
    }
    Ok(Outcome {
        exit_code: if failed.is_empty() {
            error::exit::OK
        } else {
            error::exit::CRITERIA_FAILED
        },
        results_path: Some(results_path),
        report_path: Some(report_path),
        summary,
    })
}

fn validate(paths: &[PathBuf]) -> Result<Outcome> {
    let mut issues = Vec::new();
    let mut ok = Vec::new();
    for p in paths {
        match scenario::load(p) {
            Ok(s) => ok.push(format!(
                "{}: ok ({} workload(s), {}{} profile(s), {} criteria, {} check(s))",
                p.display(),
                s.workloads.len(),
                if s.drills.is_empty() {
                    String::new()
                } else {
                    format!("{} drill(s), ", s.drills.len())
                },
                s.profiles.len(),
                s.criteria.len(),
                s.checks.len()
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

async fn compare_files(args: &cli::CompareArgs) -> Result<Outcome> {
    let base = Results::read(&args.baseline)?;
    let cur = Results::read(&args.current)?;
    let again = match &args.confirm {
        Some(p) => Some(Results::read(p)?),
        None => None,
    };
    let gate = cur.scenario.gate.clone();
    let json = args
        .json
        .clone()
        .unwrap_or_else(|| args.current.with_file_name("comparison.json"));
    let out = comparison::compare_and_gate(
        (&base, &args.baseline),
        (&cur, &args.current),
        again.as_ref().zip(args.confirm.as_deref()),
        &gate,
        &args.gate.options()?,
        &json,
    )
    .await?;
    Ok(Outcome {
        exit_code: out.exit_code,
        results_path: Some(out.json_path),
        report_path: None,
        summary: out.markdown,
    })
}

fn export(results: &Path, format: cli::ExportFormat, out: Option<&Path>) -> Result<Outcome> {
    let r = Results::read(results)?;
    let text = match format {
        cli::ExportFormat::Bmf => {
            serde_json::to_string_pretty(&export::bencher_metric_format(&r)).expect("serializes")
        }
    };
    match out {
        Some(p) => {
            std::fs::write(p, &text).map_err(|e| Error::io(p, e))?;
            Ok(Outcome {
                exit_code: exit::OK,
                results_path: Some(p.to_path_buf()),
                report_path: None,
                summary: format!("written to {}", p.display()),
            })
        }
        None => Ok(Outcome {
            exit_code: exit::OK,
            results_path: None,
            report_path: None,
            summary: text,
        }),
    }
}

fn rerender(
    results: &Path,
    template: Option<&Path>,
    out: Option<&Path>,
    format: cli::ReportFormat,
) -> Result<Outcome> {
    let r = Results::read(results)?;
    let out = match out {
        Some(p) if p.is_dir() => p.join(format.file_name()),
        Some(p) => p.to_path_buf(),
        None => results.with_file_name(format.file_name()),
    };
    report::write(&r, template, &[(format, &out)])?;
    Ok(Outcome {
        exit_code: exit::OK,
        results_path: Some(results.to_path_buf()),
        summary: format!("report written to {}", out.display()),
        report_path: Some(out),
    })
}
