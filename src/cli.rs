//! Command line: run / validate / report.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "Exit codes:\n  0  ok\n  1  an acceptance criterion failed (on the last profile) or the regression gate found a regression\n  2  bad usage or bad input (scenario, profile, workload, dataset or results file)\n  3  a target could not be reached or failed at run time";

#[derive(Debug, Parser)]
#[command(name = "tunebench", version, about = "Prove what a database tuning change did: the same workloads before and after each profile, one report.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: load data, apply each profile, measure, revert, write results.json and report.md.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Run one shard of a scenario's load (for load from several processes or machines):
    /// measure only, no dataset load, no profile applied or reverted; write this shard's
    /// part of the results to OUT/results.json for `tunebench merge`.
    #[command(after_help = EXIT_CODES)]
    Worker(WorkerCliArgs),
    /// Merge worker shards' parts into one results.json (histograms added exactly, counts
    /// summed), then write its report; refuses parts of different scenarios, datasets,
    /// profiles or tool versions.
    #[command(after_help = EXIT_CODES)]
    Merge {
        /// Parts: results.json files, or s3://BUCKET/PREFIX for every results.json under it
        /// (e.g. a rendezvous's `PREFIX/parts/0000/`).
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        /// Output folder for results.json and report.md.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check scenario files (and everything they reference) without touching any server.
    #[command(after_help = EXIT_CODES)]
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
    },
    /// Run only the scenario's configuration checks (`[[checks]]`) on the servers as they
    /// are: no data is loaded, no profile applied, nothing measured. Exit 1 when one fails.
    #[command(after_help = EXIT_CODES)]
    Check {
        scenario: PathBuf,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Restore what an earlier run left applied (interrupted, crashed, or --keep-profile), as
    /// its journal records it, and check the result. With SCENARIO: the journals on that
    /// scenario's servers; without: every journal, each through the scenario that wrote it.
    /// Exit 1 when a revert left differences.
    #[command(after_help = EXIT_CODES)]
    Revert { scenario: Option<PathBuf> },
    /// Compare two results files; exit 1 when something regressed beyond noise.
    #[command(after_help = EXIT_CODES)]
    Compare(CompareArgs),
    /// Export a results file for a tracking service (Bencher Metric Format).
    #[command(after_help = EXIT_CODES)]
    Export {
        results: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Bmf)]
        format: ExportFormat,
        /// Where to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Turn what a server already records about its costliest statements into a workload
    /// file to replay before and after a profile (reads only, on the data already there).
    #[command(subcommand, after_help = EXIT_CODES)]
    Capture(CaptureCommand),
    /// Re-render a report from a results file.
    #[command(after_help = EXIT_CODES)]
    Report {
        results: PathBuf,
        /// A tera template of your own (default: the built-in reports/default.md.tera).
        #[arg(long)]
        template: Option<PathBuf>,
        /// Where to write the report: a file, or an existing folder to write report.md /
        /// report.html into (default: beside the results file). Charts go beside it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Markdown, or one self-contained HTML page with the charts inline.
        #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
        format: ReportFormat,
    },
}

/// Defined beside the renderer; the command line only offers it.
pub use crate::report::ReportFormat;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// Bencher Metric Format JSON.
    Bmf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CriteriaMode {
    /// A failing criterion gives exit 1.
    Fail,
    /// Failing criteria are reported but do not change the exit code.
    Warn,
}

/// How comparisons judge noise; shared by `compare` and `run --baseline`.
#[derive(Debug, Args, Clone)]
pub struct GateArgs {
    /// Noise threshold per metric, METRIC=FRACTION (repeatable), e.g. --noise p99=0.2.
    /// Defaults: the scenario's [gate], else p50 0.05, p95 0.15, p99 0.35, throughput 0.05.
    #[arg(long = "noise")]
    pub noise: Vec<String>,
    /// Compare even if scenario, dataset, load shape differ or the runs had errors.
    #[arg(long)]
    pub force: bool,
    /// Learn each metric's noise threshold from earlier runs of the same scenario: a folder
    /// (searched recursively for results.json) or s3://BUCKET/PREFIX (TUNEBENCH_S3_ENDPOINT,
    /// _ACCESS_KEY, _SECRET_KEY, _REGION). Needs at least 5 runs per metric, else the
    /// configured thresholds are kept; a pair where other work took over 25 % of the cores
    /// gets a verdict only from a threshold learned from at least 10.
    #[arg(long, value_name = "DIR_OR_S3_PREFIX")]
    pub history: Option<String>,
    /// Keep each change's verdict when the two runs' hosts were loaded differently (other
    /// work, CPU steal); the difference is still named in the row. Default: such a change is
    /// `inconclusive` (also `host_check = false` under the scenario's [gate]).
    #[arg(long)]
    pub no_host_check: bool,
}

impl GateArgs {
    /// The gate's options, checked: a bad `--noise` or `--history` is a usage error (exit 2).
    pub fn options(&self) -> crate::Result<crate::comparison::GateOptions> {
        let noise = crate::gate::NoiseOverrides::parse(&self.noise)
            .map_err(|e| crate::Error::Usage(format!("--noise {e}")))?;
        let history = self
            .history
            .as_deref()
            .map(crate::history::Source::parse)
            .transpose()?;
        Ok(crate::comparison::GateOptions {
            noise,
            force: self.force,
            history,
            no_host_check: self.no_host_check,
            interleaved: false,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// The read statements with the most total time in pg_stat_statements, weighted by their
    /// share of calls; parameter values from the server log (--log) go to a CSV beside the
    /// workload file, and a statement whose parameters have no values is written commented
    /// out, saying what it needs.
    #[command(after_help = EXIT_CODES)]
    Postgres(CapturePostgresArgs),
    /// The read statements the application runs on Neo4j, as a workload file: seen running by
    /// polling SHOW TRANSACTIONS for --watch (Community keeps no query history), with their
    /// parameter values in a CSV beside it; or the statements of a Cypher file (--from-file).
    #[command(after_help = EXIT_CODES)]
    Neo4j(CaptureNeo4jArgs),
}

#[derive(Debug, Args)]
pub struct CaptureNeo4jArgs {
    /// The server (bolt://HOST:PORT).
    #[arg(long, env = "TUNEBENCH_NEO4J_URL")]
    pub url: String,
    #[arg(long, env = "TUNEBENCH_NEO4J_USER", default_value = "neo4j")]
    pub user: String,
    /// Read from the environment (never give it on the command line, where `ps` shows it).
    #[arg(
        long,
        env = "TUNEBENCH_NEO4J_PASSWORD",
        hide_env_values = true,
        hide = true
    )]
    pub password: Option<String>,
    /// The workload file to write (it must not exist); parameter files go to
    /// OUT_STEM-params/ beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// How many statements (by sightings: about their share of the server's time).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Poll SHOW TRANSACTIONS this long while the application runs (e.g. 60s).
    #[arg(long, value_parser = parse_duration)]
    pub watch: Option<std::time::Duration>,
    /// Between two polls.
    #[arg(long, value_parser = parse_duration, default_value = "20ms")]
    pub interval: std::time::Duration,
    /// Take the statements of this Cypher file instead (separated by `;`).
    #[arg(long)]
    pub from_file: Option<PathBuf>,
    /// Only statements whose text contains this (e.g. a label).
    #[arg(long)]
    pub matching: Option<String>,
    /// Parameter rows kept per statement.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
}

#[derive(Debug, Args)]
pub struct CapturePostgresArgs {
    /// The database to read pg_stat_statements from (postgres://USER:PASSWORD@HOST/DB).
    #[arg(long, env = "TUNEBENCH_PG_URL", hide_env_values = true)]
    pub url: String,
    /// The workload file to write (it must not exist); parameter files go to
    /// OUT_STEM-params/ beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// How many statements (by total execution time).
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// The server's log, for parameter values (log_min_duration_statement lines with their
    /// Parameters: detail): .csv read as csvlog, .json as jsonlog, anything else as stderr.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Only statements whose text contains this (e.g. a schema name).
    #[arg(long)]
    pub matching: Option<String>,
    /// Leave out statements called fewer times than this.
    #[arg(long, default_value_t = 1)]
    pub min_calls: i64,
    /// Parameter rows kept per statement.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
    /// Only log lines from this time on: 2026-12-01T00:00:00Z, "2026-12-01 00:00:00" (UTC),
    /// or back from now (1h, 2d). pg_stat_statements' counts stay those since its reset.
    #[arg(long, value_parser = crate::backend::postgres::capture::parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    pub baseline: PathBuf,
    pub current: PathBuf,
    /// The current side measured again (another run of the same code and profile): a change
    /// counts only where this run shows it too, so one run disturbed by other work on the
    /// host does not fail the gate. In CI: when compare exits 1, run once more and compare
    /// again with --confirm NEW_RESULTS.
    #[arg(long, value_name = "RESULTS")]
    pub confirm: Option<PathBuf>,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Where to write the comparison as JSON (default: comparison.json beside CURRENT).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WorkerCliArgs {
    pub scenario: PathBuf,
    /// This shard, I/N: shard I (from 0) of N.
    #[arg(long, value_parser = crate::driver::pacing::parse_shard)]
    pub shard: crate::driver::Shard,
    /// The common start every shard plans its phases from (RFC 3339, e.g.
    /// 2026-12-03T15:00:00Z): the same on every shard, a little in the future.
    #[arg(long, value_parser = parse_start, required_unless_present = "rendezvous")]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Take the coordinator's plans (profile, trials, start) from s3://BUCKET/PREFIX and
    /// upload each part there (`run --workers N --rendezvous` on the coordinator), until it
    /// says done. Credentials from TUNEBENCH_S3_*.
    #[arg(long, conflicts_with_all = ["start_at", "profile", "trial"])]
    pub rendezvous: Option<String>,
    /// With --rendezvous: how long to wait for the coordinator's next plan.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub wait: std::time::Duration,
    /// Output folder for this shard's results.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The profile the coordinator applied (a label: the worker applies nothing); default
    /// the scenario's first.
    #[arg(long)]
    pub profile: Option<String>,
    /// Run only these trials (repeatable; default all).
    #[arg(long)]
    pub trial: Vec<u32>,
    /// Time between one phase's planned end and the next one's start, for resets.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub phase_gap: std::time::Duration,
    /// The run's `[load]` overrides; every shard must get the same.
    #[command(flatten)]
    pub load: LoadOverrides,
}

/// The `[load]` overrides `run` takes, and passes on to its `worker` processes.
#[derive(Debug, Args, Clone, Default)]
pub struct LoadOverrides {
    /// Override load.duration (e.g. 10s).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Override load.warmup (e.g. 2s; 0s for none).
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<std::time::Duration>,
    /// Override load.rate (open-loop scenarios), operations per second (all shards together).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Override load.concurrency (closed loop) or load.max_in_flight (open loop), all
    /// shards together.
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// Override load.trials.
    #[arg(long)]
    pub trials: Option<u32>,
}

impl LoadOverrides {
    /// As the scenario applies them, with `profiles` picked.
    pub fn scenario(&self, profiles: Vec<String>) -> crate::scenario::Overrides {
        crate::scenario::Overrides {
            duration: self.duration,
            warmup: self.warmup,
            rate: self.rate,
            concurrency: self.concurrency,
            trials: self.trials,
            profiles,
        }
    }

    /// The same overrides as flags, for a worker process.
    pub fn flags(&self) -> Vec<String> {
        let ms = |d: std::time::Duration| format!("{}ms", d.as_millis());
        let mut o = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                o.extend([flag.to_string(), v]);
            }
        };
        push("--duration", self.duration.map(ms));
        push("--warmup", self.warmup.map(ms));
        push("--rate", self.rate.map(|r| r.to_string()));
        push("--concurrency", self.concurrency.map(|c| c.to_string()));
        push("--trials", self.trials.map(|t| t.to_string()));
        o
    }
}

fn parse_start(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time ({e}); e.g. 2026-12-03T15:00:00Z"))
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub scenario: PathBuf,
    /// Output folder for results.json and report.md.
    #[arg(long, default_value = "reports/out")]
    pub out: PathBuf,
    /// Run only these profiles, in this order (repeatable; default: all the scenario lists).
    #[arg(long = "profile")]
    pub profiles: Vec<String>,
    #[command(flatten)]
    pub load: LoadOverrides,
    /// Leave the last profile applied instead of reverting it. Its journal stays, so later
    /// runs on the same servers refuse to measure until `tunebench revert SCENARIO`.
    #[arg(long)]
    pub keep_profile: bool,
    /// A tera template of your own for report.md.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Also write report.html: one self-contained page with the charts inline (report.md is
    /// always written).
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
    /// Gate against an earlier results file in the same invocation (exit 1 on a regression).
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Gate the last profile against the first within this run (exit 1 on a regression), as
    /// `compare` gates two runs; written to OUT/comparison-profiles.json. With trials
    /// alternating between the profiles (`load.interleave`, the default), a slowdown of the
    /// host hits both sides alike: the gate for a shared CI runner (docs/gate.md).
    #[arg(long)]
    pub gate_profiles: bool,
    /// What a failing acceptance criterion does to the exit code.
    #[arg(long, value_enum, default_value_t = CriteriaMode::Fail)]
    pub criteria: CriteriaMode,
    /// Generate each profile's load from N worker processes (`tunebench worker`) on this
    /// host, merged exactly; their parts go under OUT/shards/. Profiles then run one after
    /// another, not interleaved.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub workers: Option<u32>,
    /// With --workers: the workers run elsewhere (e.g. a Kubernetes Indexed Job, see
    /// deploy/kubernetes/) and meet this run at s3://BUCKET/PREFIX, a prefix of this run's
    /// own: it writes each profile's plan there and merges the parts they upload.
    #[arg(long, requires = "workers")]
    pub rendezvous: Option<String>,
    #[command(flatten)]
    pub gate: GateArgs,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    crate::source::duration(s)
}
