//! `curate_run`, `curate_plan` and `cli_main`: the engine's curation job, its dry-run
//! text and its command line, with the GIL released while the engine works.

use crate::convert::to_py;
use crate::errors::{map_err, ConfigError};
use cpt_engine::cli::run::dry_run_text;
use cpt_engine::config::Config;
use cpt_engine::pipeline::{self, RunOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// The keyword arguments as a config tree to merge over the YAML file.
fn overlay(mapping: Option<&Bound<'_, PyDict>>) -> PyResult<Option<serde_yaml::Value>> {
    mapping
        .map(|m| {
            pythonize::depythonize(m.as_any())
                .map_err(|e| ConfigError::new_err(format!("config: keyword arguments: {e}")))
        })
        .transpose()
}

/// Run a curation job. `overlay` is a mapping of config keys merged over the YAML file;
/// `sets` are `key.sub=value` overrides. Returns the report as a dict.
#[pyfunction]
#[pyo3(signature = (config_path=None, overlay=None, sets=Vec::new(), overwrite=false, quiet=false))]
fn curate_run(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    overlay: Option<&Bound<'_, PyDict>>,
    sets: Vec<String>,
    overwrite: bool,
    quiet: bool,
) -> PyResult<Py<PyAny>> {
    let tree = self::overlay(overlay)?;
    let report = py
        .detach(move || {
            let config = Config::resolve(config_path.as_deref(), tree, &sets)?;
            pipeline::run(&config, &RunOptions { overwrite, quiet })
        })
        .map_err(map_err)?;
    to_py(py, &report)
}

/// The resolved config (YAML) and the plan, as `cpt-curate run --dry-run` prints them.
#[pyfunction]
#[pyo3(signature = (config_path=None, overlay=None, sets=Vec::new()))]
fn curate_plan(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    overlay: Option<&Bound<'_, PyDict>>,
    sets: Vec<String>,
) -> PyResult<String> {
    let tree = self::overlay(overlay)?;
    py.detach(move || dry_run_text(&Config::resolve(config_path.as_deref(), tree, &sets)?))
        .map_err(map_err)
}

/// The `cpt-curate` command line (the same clap entry point as the Rust binary);
/// `argv` excludes the program name. Returns the exit code.
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let args: Vec<String> = std::iter::once("cpt-curate".to_string())
        .chain(argv)
        .collect();
    py.detach(move || cpt_engine::cli::main_with_args(args))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(curate_run, m)?)?;
    m.add_function(wrap_pyfunction!(curate_plan, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
