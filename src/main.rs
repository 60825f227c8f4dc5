use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cli = tunebench::Cli::parse();
    let level = match cli.verbose {
        // sqlx warns about every statement over 1 s: under a baseline profile that is the
        // measurement itself, not a problem worth a log line. qdrant-edge 0.7 warns on every
        // shard it opens that process-wide flags were never initialized: their init function
        // is private to the crate, and the defaults are what it then uses.
        0 => "warn,tunebench=info,sqlx::query=error,qdrant_edge=error",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let code = match tunebench::run(cli).await {
        Ok(outcome) => {
            println!("{}", outcome.summary);
            outcome.exit_code
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    };
    std::process::exit(code);
}
