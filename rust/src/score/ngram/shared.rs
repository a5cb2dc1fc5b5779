//! Models shared between a job's plan and its scan stages: the plan loads (and so checks)
//! each model file once; building the stage takes it from here, so a job reads a model
//! once and no model stays in memory after the job's stages are dropped. A model planned
//! but never built (a dry run) stays until the next plan or build of the same file.

use super::LmModel;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Stamp = (u64, Option<SystemTime>);

static MODELS: Mutex<Vec<(PathBuf, Stamp, Arc<LmModel>)>> = Mutex::new(Vec::new());

fn stamp(path: &Path) -> Result<Stamp> {
    let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    Ok((m.len(), m.modified().ok()))
}

fn get(path: &Path, take: bool) -> Result<Arc<LmModel>> {
    let st = stamp(path)?;
    {
        let mut cache = MODELS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(i) = cache.iter().position(|(p, s, _)| p == path && *s == st) {
            return Ok(if take {
                cache.swap_remove(i).2
            } else {
                cache[i].2.clone()
            });
        }
        cache.retain(|(p, _, _)| p != path);
    }
    let model = Arc::new(LmModel::load(path)?);
    if !take {
        MODELS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((path.to_path_buf(), st, model.clone()));
    }
    Ok(model)
}

/// Load (or find loaded) the model at `path`, keeping it for [`take`].
pub fn load(path: &Path) -> Result<Arc<LmModel>> {
    get(path, false)
}

/// The model at `path`, from [`load`]'s cache (removed from it) or loaded now.
pub fn take(path: &Path) -> Result<Arc<LmModel>> {
    get(path, true)
}
