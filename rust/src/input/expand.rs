//! Input discovery: files, directories (searched recursively by document suffix) and glob
//! patterns expanded into one sorted, de-duplicated list. Every command uses this order, so
//! the same arguments give the same documents in the same order everywhere.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One input file, in the job's deterministic order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub size: u64,
}

/// File names picked up when walking a directory (a file named explicitly is read whatever
/// its name; its format comes from its bytes).
const DOC_SUFFIXES: &[&str] = &[
    ".jsonl",
    ".jsonl.zst",
    ".jsonl.zstd",
    ".jsonl.gz",
    ".json.gz",
    ".json.zst",
    ".ndjson",
    ".ndjson.zst",
    ".ndjson.gz",
    ".parquet",
];

fn is_doc_name(name: &str) -> bool {
    DOC_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Expand files, directories (recursively, by document suffix, hidden entries skipped) and
/// glob patterns into a sorted, de-duplicated list. `exclude` (the output directory) is never
/// entered. A pattern that matches nothing is an error naming it.
pub fn expand_inputs(patterns: &[String], exclude: Option<&Path>) -> Result<Vec<InputFile>> {
    if patterns.is_empty() {
        return Err(Error::Config("inputs: no input files given".into()));
    }
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut paths: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let p = Path::new(pattern);
        let before = paths.len();
        if p.is_dir() {
            walk(p, exclude.as_deref(), &mut paths)?;
        } else if p.is_file() {
            paths.push(p.to_path_buf());
        } else if pattern.contains(['*', '?', '[']) {
            // Hidden names match only when the pattern spells the dot, as in a walk.
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let entries = glob::glob_with(pattern, options)
                .map_err(|e| Error::Config(format!("inputs: bad glob {pattern:?}: {e}")))?;
            for entry in entries {
                let path = entry.map_err(|e| Error::io(e.path().to_path_buf(), e.into()))?;
                if path.is_dir() {
                    walk(&path, exclude.as_deref(), &mut paths)?;
                } else if !inside(&path, exclude.as_deref()) {
                    paths.push(path);
                }
            }
        } else {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "input not found"),
            ));
        }
        if paths.len() == before {
            return Err(Error::Config(format!(
                "inputs: {pattern:?} matched no input files"
            )));
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|path| {
            let size = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .len();
            Ok(InputFile { path, size })
        })
        .collect()
}

/// `path` lies under `dir` (the output directory, whose shards are never inputs).
fn inside(path: &Path, dir: Option<&Path>) -> bool {
    match (dir, path.canonicalize()) {
        (Some(dir), Ok(p)) => p.starts_with(dir),
        _ => false,
    }
}

fn walk(dir: &Path, exclude: Option<&Path>, out: &mut Vec<PathBuf>) -> Result<()> {
    if let (Some(ex), Ok(canon)) = (exclude, dir.canonicalize()) {
        if canon == ex {
            return Ok(());
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden {
            continue;
        }
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            walk(&path, exclude, out)?;
        } else if is_doc_name(&entry.file_name().to_string_lossy()) {
            out.push(path);
        }
    }
    Ok(())
}

/// The stem used for generated ids: the file name without its extensions.
pub fn file_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.find('.') {
        Some(0) | None => name,
        Some(i) => name[..i].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drop_all_extensions() {
        assert_eq!(file_stem(Path::new("/a/docs.jsonl.zst")), "docs");
        assert_eq!(file_stem(Path::new("/a/docs.parquet")), "docs");
        assert_eq!(file_stem(Path::new("b")), "b");
    }

    fn names(files: &[InputFile]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into())
            .collect()
    }

    #[test]
    fn dirs_and_globs_give_one_sorted_list() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        for name in [
            "sub/x.jsonl",
            "z.jsonl.zst",
            "a.jsonl.gz",
            "n.ndjson",
            "p.parquet",
            "y.json.gz.bin",
            ".hidden.jsonl",
        ] {
            std::fs::write(d.join(name), b"{}").unwrap();
        }
        let out = d.join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("part-00000-0000.jsonl.zst"), b"").unwrap();
        let all = expand_inputs(&[d.to_string_lossy().into_owned()], Some(&out)).unwrap();
        assert_eq!(
            names(&all),
            [
                "a.jsonl.gz",
                "n.ndjson",
                "p.parquet",
                "x.jsonl",
                "z.jsonl.zst"
            ]
        );
        assert!(all.iter().all(|f| f.size == 2));
        let glob = format!("{}/**/*.jsonl*", d.display());
        let globbed = expand_inputs(&[glob], Some(&out)).unwrap();
        assert_eq!(names(&globbed), ["a.jsonl.gz", "x.jsonl", "z.jsonl.zst"]);
        // Argument order does not matter: the list is sorted.
        let z = d.join("z.jsonl.zst").to_string_lossy().into_owned();
        let a = d.join("a.jsonl.gz").to_string_lossy().into_owned();
        let pair = expand_inputs(&[z.clone(), a.clone(), z], None).unwrap();
        assert_eq!(names(&pair), ["a.jsonl.gz", "z.jsonl.zst"]);
    }

    #[test]
    fn nothing_matched_is_an_error_naming_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().to_string_lossy().into_owned();
        let err = expand_inputs(std::slice::from_ref(&empty), None).unwrap_err();
        assert!(err.to_string().contains(&empty), "{err}");
        let missing = dir.path().join("nope.jsonl");
        let err = expand_inputs(&[missing.to_string_lossy().into_owned()], None).unwrap_err();
        assert!(err.to_string().contains("nope.jsonl"), "{err}");
        assert!(expand_inputs(&[], None).is_err());
    }
}
