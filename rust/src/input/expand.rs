//! Input discovery: files, directories (searched recursively by document suffix) and glob
//! patterns expanded into one sorted list with every file once. Every command uses this
//! order, so the same arguments give the same documents in the same order everywhere.
//!
//! Each file is read once however it is reached (`a/../a/x.jsonl`, a symlink to a file
//! already listed: duplicates by canonical path are dropped, the first spelling in sorted
//! order kept). Directory symlinks are not followed unless asked (`follow_symlinks`), and
//! then each directory is walked once, so a symlink loop ends. A directory holding a cpt
//! output marker ([`OUTPUT_MARKER`], or a curation job's `.state/job.json`) is never
//! entered, and a job whose output directory is (inside) one of its input directories, or
//! that names an input inside its output directory, is refused.

use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// One input file, in the job's deterministic order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The path as the arguments spell it (messages, reports).
    pub path: PathBuf,
    pub size: u64,
    /// What generated ids start with (`<id_prefix>:<line>`): the file's path relative to its
    /// input root (the directory argument it was found in, else its own directory) without
    /// extensions; made longer where two inputs of the job would share one (FORMAT.md).
    pub id_prefix: String,
    /// xxh3-64 (hex) of the first and last [`FINGERPRINT_BLOCK`] bytes, the size and the
    /// mtime: an input edited in place, even to the same size, changes it.
    pub fingerprint: String,
}

/// Bytes hashed at each end of a file for its fingerprint.
pub const FINGERPRINT_BLOCK: u64 = 1 << 16;

/// The file every cpt job writes at the top of its output directory: input expansion
/// never enters a directory holding it.
pub const OUTPUT_MARKER: &str = ".cpt-output";

/// How to expand inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpandOptions<'a> {
    /// The job's output directory: refused as (inside) an input, never read.
    pub output: Option<&'a Path>,
    /// Follow symlinks to directories (each directory is still walked once).
    pub follow_symlinks: bool,
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

/// Whether `dir` is the output directory of a cpt job.
pub fn is_cpt_output(dir: &Path) -> bool {
    dir.join(OUTPUT_MARKER).is_file() || dir.join(".state").join("job.json").is_file()
}

/// `path` made absolute and free of `.`/`..` and symlinks as far as it exists (a path
/// that does not exist yet, such as a new output directory, keeps its missing tail).
pub fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let mut tail = Vec::new();
    let mut head = path.to_path_buf();
    while let Some(name) = head.file_name() {
        tail.push(name.to_os_string());
        head.pop();
        let probe = if head.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            head.clone()
        };
        if let Ok(mut p) = probe.canonicalize() {
            for t in tail.iter().rev() {
                p.push(t);
            }
            return p;
        }
    }
    let mut p = std::env::current_dir().unwrap_or_default();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                p.pop();
            }
            Component::CurDir => {}
            other => p.push(other),
        }
    }
    p
}

/// Expand with the defaults (directory symlinks not followed); `output` as in [`ExpandOptions`].
pub fn expand_inputs(patterns: &[String], output: Option<&Path>) -> Result<Vec<InputFile>> {
    expand_with(
        patterns,
        ExpandOptions {
            output,
            follow_symlinks: false,
        },
    )
}

/// Files found so far, with the root each was found under.
struct Found {
    files: Vec<(PathBuf, PathBuf)>,
    walked: HashSet<PathBuf>,
    skipped_outputs: Vec<PathBuf>,
    follow: bool,
}

/// Expand files, directories (recursively, by document suffix, hidden entries skipped) and
/// glob patterns into a sorted list with every file once. A pattern that matches nothing is
/// an error naming it.
pub fn expand_with(patterns: &[String], opts: ExpandOptions<'_>) -> Result<Vec<InputFile>> {
    if patterns.is_empty() {
        return Err(Error::Config("inputs: no input files given".into()));
    }
    let output = opts.output.map(absolute);
    let mut found = Found {
        files: Vec::new(),
        walked: HashSet::new(),
        skipped_outputs: Vec::new(),
        follow: opts.follow_symlinks,
    };
    for pattern in patterns {
        let p = Path::new(pattern);
        let before = found.files.len();
        let skipped_before = found.skipped_outputs.len();
        if p.is_dir() {
            check_dir_vs_output(p, output.as_deref())?;
            found.walk(p, p)?;
        } else if p.is_file() {
            check_file_vs_output(p, output.as_deref())?;
            found.files.push((p.to_path_buf(), parent(p)));
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
                    check_dir_vs_output(&path, output.as_deref())?;
                    found.walk(&path, &path)?;
                } else if !inside(&path, output.as_deref())
                    && !path.ancestors().skip(1).any(is_cpt_output)
                {
                    let root = parent(&path);
                    found.files.push((path, root));
                }
            }
        } else {
            return Err(Error::io(
                p,
                std::io::Error::new(std::io::ErrorKind::NotFound, "input not found"),
            ));
        }
        if found.files.len() == before {
            let why = match found.skipped_outputs.get(skipped_before) {
                Some(d) => format!(
                    " ({} is the output directory of a cpt job, never read as input)",
                    d.display()
                ),
                None => String::new(),
            };
            return Err(Error::Config(format!(
                "inputs: {pattern:?} matched no input files{why}"
            )));
        }
    }
    found.files.sort();
    // Every file once: the first spelling (in sorted order) of each canonical path.
    let mut seen = HashSet::new();
    let mut files = Vec::with_capacity(found.files.len());
    for (path, root) in found.files {
        let canon = path.canonicalize().map_err(|e| Error::io(&path, e))?;
        if seen.insert(canon.clone()) {
            files.push((path, root, canon));
        }
    }
    let prefixes = id_prefixes(&files);
    files
        .into_iter()
        .zip(prefixes)
        .map(|((path, _, _), id_prefix)| {
            let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
            let fingerprint = fingerprint(&path, &meta)?;
            Ok(InputFile {
                path,
                size: meta.len(),
                id_prefix,
                fingerprint,
            })
        })
        .collect()
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A directory argument that is, or holds, the output directory is refused.
fn check_dir_vs_output(dir: &Path, output: Option<&Path>) -> Result<()> {
    let (Some(out), Ok(d)) = (output, dir.canonicalize()) else {
        return Ok(());
    };
    if out == d {
        return Err(Error::Config(format!(
            "inputs: {} is the output directory: a job never reads its own output; \
             choose another output directory",
            dir.display()
        )));
    }
    if out.starts_with(&d) {
        return Err(Error::Config(format!(
            "inputs: the output directory {} is inside the input directory {}: a job never \
             reads its own output; choose an output directory outside the inputs",
            out.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// A file named as input that lies in the output directory is refused.
fn check_file_vs_output(file: &Path, output: Option<&Path>) -> Result<()> {
    if inside(file, output) {
        return Err(Error::Config(format!(
            "inputs: {} is inside the output directory {}: a job never reads its own output",
            file.display(),
            output
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        )));
    }
    Ok(())
}

/// `path` lies under `dir` (the output directory, whose shards are never inputs).
fn inside(path: &Path, dir: Option<&Path>) -> bool {
    match (dir, path.canonicalize()) {
        (Some(dir), Ok(p)) => p.starts_with(dir),
        _ => false,
    }
}

impl Found {
    fn walk(&mut self, dir: &Path, root: &Path) -> Result<()> {
        let canon = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        if !self.walked.insert(canon) {
            return Ok(()); // already walked (a symlink loop or a second link to it)
        }
        if is_cpt_output(dir) {
            self.skipped_outputs.push(dir.to_path_buf());
            return Ok(());
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            entries.push(entry.map_err(|e| Error::io(dir, e))?);
        }
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let is_dir = kind.is_dir() || (kind.is_symlink() && self.follow && path.is_dir());
            if is_dir {
                self.walk(&path, root)?;
            } else if !(kind.is_symlink() && path.is_dir()) && is_doc_name(&name) && path.is_file()
            {
                self.files.push((path, root.to_path_buf()));
            }
        }
        Ok(())
    }
}

/// The name up to its first dot (a leading dot kept).
fn strip_exts(name: &str) -> &str {
    match name.find('.') {
        Some(0) | None => name,
        Some(i) => &name[..i],
    }
}

/// Id prefixes unique within the job: the path relative to its root without extensions;
/// with extensions where two share one; the canonical path where even those collide.
fn id_prefixes(files: &[(PathBuf, PathBuf, PathBuf)]) -> Vec<String> {
    let rel = |path: &Path, root: &Path| -> String {
        let r = path.strip_prefix(root).unwrap_or(path);
        r.components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/")
    };
    let full: Vec<String> = files.iter().map(|(p, r, _)| rel(p, r)).collect();
    let short: Vec<String> = full
        .iter()
        .map(|f| match f.rsplit_once('/') {
            Some((dir, name)) => format!("{dir}/{}", strip_exts(name)),
            None => strip_exts(f).to_owned(),
        })
        .collect();
    let count = |names: &[String]| {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for n in names {
            *m.entry(n.as_str()).or_default() += 1;
        }
        names.iter().map(|n| m[n.as_str()]).collect::<Vec<_>>()
    };
    let short_n = count(&short);
    let full_n = count(&full);
    (0..files.len())
        .map(|i| {
            if short_n[i] == 1 {
                short[i].clone()
            } else if full_n[i] == 1 {
                full[i].clone()
            } else {
                files[i].2.to_string_lossy().into_owned()
            }
        })
        .collect()
}

/// See [`InputFile::fingerprint`].
fn fingerprint(path: &Path, meta: &std::fs::Metadata) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = meta.len();
    let mut buf = Vec::with_capacity(2 * FINGERPRINT_BLOCK as usize + 32);
    (&mut f)
        .take(FINGERPRINT_BLOCK)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if size > FINGERPRINT_BLOCK {
        let from = (size - FINGERPRINT_BLOCK).max(FINGERPRINT_BLOCK);
        f.seek(SeekFrom::Start(from))
            .and_then(|_| f.take(FINGERPRINT_BLOCK).read_to_end(&mut buf))
            .map_err(|e| Error::io(path, e))?;
    }
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    buf.extend_from_slice(&size.to_le_bytes());
    buf.extend_from_slice(&mtime.to_le_bytes());
    Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&buf)))
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
        // A previous job's output inside the tree is skipped by its marker.
        let prev = d.join("prev");
        std::fs::create_dir_all(prev.join("kept")).unwrap();
        std::fs::write(prev.join(OUTPUT_MARKER), b"").unwrap();
        std::fs::write(prev.join("kept/part-00000-0000.jsonl.zst"), b"").unwrap();
        let out = dir.path().with_extension("out");
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
        let ids: Vec<&str> = all.iter().map(|f| f.id_prefix.as_str()).collect();
        assert_eq!(ids, ["a", "n", "p", "sub/x", "z"]);
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

#[cfg(test)]
mod hardening {
    use super::*;
    use std::os::unix::fs::symlink;

    fn arg(p: &Path) -> String {
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn each_file_once_however_it_is_reached() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("a")).unwrap();
        std::fs::write(d.join("a/x.jsonl"), b"{}").unwrap();
        symlink(d.join("a/x.jsonl"), d.join("a/link.jsonl")).unwrap();
        let dotted = format!("{}/a/../a/x.jsonl", d.display());
        let all = expand_inputs(
            &[arg(&d.join("a")), dotted, arg(&d.join("a/x.jsonl"))],
            None,
        )
        .unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
    }

    #[test]
    fn directory_symlinks_are_not_followed_unless_asked_and_loops_end() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("r/s")).unwrap();
        std::fs::create_dir_all(d.join("other")).unwrap();
        std::fs::write(d.join("r/s/x.jsonl"), b"{}").unwrap();
        std::fs::write(d.join("other/y.jsonl"), b"{}").unwrap();
        symlink(d.join("r"), d.join("r/s/loop")).unwrap();
        symlink(d.join("r/s"), d.join("r/loop2")).unwrap();
        symlink(d.join("other"), d.join("r/other")).unwrap();
        let plain = expand_inputs(&[arg(&d.join("r"))], None).unwrap();
        assert_eq!(plain.len(), 1);
        let followed = expand_with(
            &[arg(&d.join("r"))],
            ExpandOptions {
                output: None,
                follow_symlinks: true,
            },
        )
        .unwrap();
        assert_eq!(followed.len(), 2, "{followed:?}");
    }

    #[test]
    fn output_inside_or_equal_to_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("x.jsonl"), b"{}").unwrap();
        let e = expand_inputs(&[arg(d)], Some(d)).unwrap_err().to_string();
        assert!(e.contains("is the output directory"), "{e}");
        let e = expand_inputs(&[arg(d)], Some(&d.join("out")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is inside the input directory"), "{e}");
        std::fs::create_dir(d.join("out")).unwrap();
        std::fs::write(d.join("out/k.jsonl"), b"{}").unwrap();
        let e = expand_inputs(&[arg(&d.join("out/k.jsonl"))], Some(&d.join("out")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is inside the output directory"), "{e}");
        std::fs::write(d.join("out").join(OUTPUT_MARKER), b"").unwrap();
        let e = expand_inputs(&[arg(&d.join("out"))], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("output directory of a cpt job"), "{e}");
    }

    #[test]
    fn id_prefixes_are_unique_within_a_job() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "a/docs.jsonl",
            "b/docs.jsonl",
            "b/docs.jsonl.zst",
            "c/solo.jsonl",
        ] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), b"{}").unwrap();
        }
        let all = expand_inputs(&[arg(d)], None).unwrap();
        let ids: Vec<&str> = all.iter().map(|f| f.id_prefix.as_str()).collect();
        assert_eq!(
            ids,
            ["a/docs", "b/docs.jsonl", "b/docs.jsonl.zst", "c/solo"]
        );
        // Two files named alike in different directories, each given as a file.
        let two = expand_inputs(
            &[arg(&d.join("a/docs.jsonl")), arg(&d.join("b/docs.jsonl"))],
            None,
        )
        .unwrap();
        assert_ne!(two[0].id_prefix, two[1].id_prefix);
        let one = expand_inputs(&[arg(&d.join("c/solo.jsonl"))], None).unwrap();
        assert_eq!(one[0].id_prefix, "solo");
    }

    #[test]
    fn the_fingerprint_sees_a_same_size_edit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        let mut body = vec![b'a'; 300_000];
        std::fs::write(&p, &body).unwrap();
        let before = expand_inputs(&[arg(&p)], None).unwrap()[0].clone();
        body[299_000] = b'b';
        std::fs::write(&p, &body).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::UNIX_EPOCH).unwrap();
        let after = expand_inputs(&[arg(&p)], None).unwrap()[0].clone();
        assert_eq!(before.size, after.size);
        assert_ne!(before.fingerprint, after.fingerprint);
    }
}
