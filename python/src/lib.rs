//! `cpt._engine`: thin PyO3 wrappers over `cpt_engine`. Arguments are converted,
//! the GIL is released around engine work, and engine errors map to the
//! exception classes of `errors.rs`. No logic lives here.

use pyo3::prelude::*;

mod convert;
mod curate;
mod errors;
mod lm;
mod minhash;
mod select;
mod tokenize;
mod vocab;

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    curate::register(m)?;
    minhash::register(m)?;
    select::register(m)?;
    tokenize::register(m)?;
    vocab::register(m)?;
    lm::register(m)?;
    Ok(())
}
