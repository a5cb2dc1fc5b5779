//! `curate_run` and `cli_main`: the engine's curation job and its command line, with
//! the GIL released while the engine works.

use crate::errors::to_py;
use cpt_engine::config::Config;
use cpt_engine::pipeline::{self, RunOptions};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Run a curation job. `overlay_json` is a JSON object of config keys merged over the
/// YAML file; `sets` are `key.sub=value` overrides. Returns the report as JSON text,
/// or with `dry_run` the resolved config (YAML) and plan as text.
#[pyfunction]
#[pyo3(signature = (config_path=None, overlay_json=None, sets=Vec::new(), overwrite=false, quiet=false, dry_run=false))]
fn curate_run(
    py: Python<'_>,
    config_path: Option<PathBuf>,
    overlay_json: Option<String>,
    sets: Vec<String>,
    overwrite: bool,
    quiet: bool,
    dry_run: bool,
) -> PyResult<String> {
    py.detach(move || -> cpt_engine::Result<String> {
        let overlay = overlay_json
            .as_deref()
            .map(Config::overlay_from_json)
            .transpose()?;
        let config = Config::resolve(config_path.as_deref(), overlay, &sets)?;
        if dry_run {
            let plan = pipeline::plan(&config)?;
            return Ok(format!(
                "# resolved config (hash {})\n{}{}",
                config.output_hash(),
                config.to_yaml(),
                plan.describe()
            ));
        }
        let report = pipeline::run(&config, &RunOptions { overwrite, quiet })?;
        Ok(serde_json::to_string(&report).expect("report serializes"))
    })
    .map_err(to_py)
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
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    Ok(())
}
