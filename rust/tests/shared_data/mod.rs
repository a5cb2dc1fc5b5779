//! Locating `shared/data` (the project's small real corpora, beside the checkout) for the
//! data-driven integration tests. Missing data FAILS a test, so a machine without it cannot
//! pass by skipping; `CPT_SKIP_SHARED_DATA=1` skips those tests explicitly, with a note.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The opt-out: set to `1` to skip the tests that need `shared/data`.
pub const SKIP_VAR: &str = "CPT_SKIP_SHARED_DATA";

/// The `shared/data` directory of the checkout whose crate directory is `start`: inside the
/// checkout or beside it (at most two levels up, so a stray `shared/` higher up, e.g. in the
/// temp directory, is never taken); when there is none, `Ok(None)` if `skip` (the opt-out is
/// set), else an error saying what is missing and how to opt out.
pub fn locate(start: &Path, rel: &str, skip: bool) -> Result<Option<PathBuf>, String> {
    let found = start
        .ancestors()
        .take(3)
        .map(|p| p.join("shared").join("data"))
        .find(|p| p.is_dir())
        .map(|d| if rel.is_empty() { d } else { d.join(rel) })
        .filter(|p| p.exists());
    match found {
        Some(p) => Ok(Some(p)),
        None if skip => Ok(None),
        None => Err(format!(
            "shared/data/{rel} not found above {}: this test needs the shared corpora \
             (set {SKIP_VAR}=1 to skip it explicitly)",
            start.display()
        )),
    }
}

fn skip_requested() -> bool {
    std::env::var(SKIP_VAR).is_ok_and(|v| v == "1")
}

/// `shared/data/<rel>` (`""` for the directory). Panics when it is missing, unless the
/// opt-out is set: then `None`, and the test prints that it was skipped and returns.
pub fn path(rel: &str) -> Option<PathBuf> {
    let start = Path::new(env!("CARGO_MANIFEST_DIR"));
    match locate(start, rel, skip_requested()) {
        Ok(Some(p)) => Some(p),
        Ok(None) => {
            eprintln!("SKIPPED: shared/data/{rel} not found and {SKIP_VAR}=1");
            None
        }
        Err(msg) => panic!("{msg}"),
    }
}

/// The shared data directory itself.
pub fn dir() -> Option<PathBuf> {
    path("")
}

/// The `text` of every record of a corpus file (any format the input layer reads).
pub fn texts(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    cpt_engine::input::for_each_text(path, "text", |_, t| {
        out.push(t);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}
