//! Engine errors as Python exception classes, all below `CurateError`, named
//! `cpt._engine.X` (their `__module__` is `cpt._engine`).

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    cpt._engine,
    CurateError,
    PyException,
    "Base class of every error raised by the cpt engine."
);
create_exception!(
    cpt._engine,
    ConfigError,
    CurateError,
    "A bad configuration value or unknown key."
);
create_exception!(
    cpt._engine,
    InputError,
    CurateError,
    "A malformed input record, or a corrupt or truncated input file."
);
create_exception!(
    cpt._engine,
    ShardError,
    CurateError,
    "A truncated, corrupt or mismatched token shard."
);
create_exception!(
    cpt._engine,
    TokenizerError,
    CurateError,
    "A tokenizer that cannot be loaded or does not match."
);
create_exception!(
    cpt._engine,
    EngineIOError,
    CurateError,
    "A file system error, with the path it happened on."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CurateError", py.get_type::<CurateError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("ShardError", py.get_type::<ShardError>())?;
    m.add("TokenizerError", py.get_type::<TokenizerError>())?;
    m.add("EngineIOError", py.get_type::<EngineIOError>())?;
    Ok(())
}

/// Map an engine error to the matching Python exception, keeping its message.
pub fn map_err(err: cpt_engine::Error) -> PyErr {
    use cpt_engine::Error as E;
    let msg = err.to_string();
    match err {
        E::Config(_) => ConfigError::new_err(msg),
        E::Input { .. } | E::Corrupt { .. } | E::Intermediate { .. } => InputError::new_err(msg),
        E::Shard { .. } => ShardError::new_err(msg),
        E::Tokenizer(_) => TokenizerError::new_err(msg),
        E::Io { .. } => EngineIOError::new_err(msg),
        E::Accounting(_) => CurateError::new_err(msg),
    }
}
