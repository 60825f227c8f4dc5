//! Errors by area. Each one knows its exit code; messages name the file, field or flag
//! and what would be valid, because the user has to fix them without reading our code.

use std::path::PathBuf;

/// Exit codes: the contract scripts and CI rely on (see README and `--help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const CRITERIA_FAILED: i32 = 1;
    pub const BAD_INPUT: i32 = 2;
    pub const RUNTIME: i32 = 3;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario, profile, workload, dataset or results file is wrong.
    #[error("{}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\n"))]
    Input(Vec<InputIssue>),

    /// A command-line flag combination is wrong.
    #[error("{0}")]
    Usage(String),

    /// A target could not be reached or failed while running.
    #[error("{context}: {message}")]
    Target { context: String, message: String },

    /// Local I/O failed (writing results, reading a template ...).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) | Error::Usage(_) => exit::BAD_INPUT,
            Error::Target { .. } | Error::Io { .. } => exit::RUNTIME,
        }
    }

    pub fn input(issue: InputIssue) -> Self {
        Error::Input(vec![issue])
    }

    pub fn target(context: impl Into<String>, message: impl std::fmt::Display) -> Self {
        // A driver's message may quote the URL or a header it was given.
        Error::Target {
            context: crate::secrets::scrub(&context.into()),
            message: crate::secrets::scrub(&message.to_string()),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// One problem in one input file, located as precisely as we know.
#[derive(Debug, Clone, PartialEq)]
pub struct InputIssue {
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the field, e.g. `load.concurrency`; empty for the whole file.
    pub field: String,
    pub message: String,
}

impl InputIssue {
    pub fn new(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InputIssue {
            file: file.into(),
            position: None,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn at(mut self, position: Option<(usize, usize)>) -> Self {
        self.position = position;
        self
    }
}

impl std::fmt::Display for InputIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
