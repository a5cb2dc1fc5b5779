//! One error type for the engine. Every variant names what the user has to fix:
//! a file and line, a config key, a shard and frame.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration value or an unknown key.
    #[error("config: {0}")]
    Config(String),
    /// A malformed input record (bad JSON, invalid UTF-8, missing `text`).
    #[error("{}:{line}: {msg}", path.display())]
    Input {
        path: PathBuf,
        line: u64,
        msg: String,
    },
    /// A truncated or corrupt compressed input.
    #[error("{}: {msg}", path.display())]
    Corrupt { path: PathBuf, msg: String },
    /// A file system error, with the path it happened on.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A token shard that is truncated, corrupt or of the wrong version.
    #[error("{}: {msg}", path.display())]
    Shard { path: PathBuf, msg: String },
    /// A tokenizer that cannot be loaded or does not match a dataset.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A task's intermediate file that is missing, truncated, damaged or from another job:
    /// relaunching the task that wrote it (`cpt-curate task`) rewrites it.
    #[error("{}: {msg}; relaunch task {task} (cpt-curate task ... {task}; a relaunched `run` does it)", path.display())]
    Intermediate {
        path: PathBuf,
        task: String,
        msg: String,
    },
    /// The accounting check (kept + rejected == input) failed: a bug, never user error.
    #[error("accounting: {0}")]
    Accounting(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
