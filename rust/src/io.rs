//! Input discovery and streaming: files, directories and globs expanded into a sorted
//! list; each file opened by its magic bytes (zstd, gzip or plain) and read line by
//! line, with decoder failures reported as `Error::Corrupt` naming the file and line.
//! Also the atomic-write helpers every output goes through.

use crate::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One input file, in the job's deterministic order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: PathBuf,
    pub size: u64,
}

/// File names picked up when walking a directory.
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
];

fn is_doc_name(name: &str) -> bool {
    DOC_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Expand files, directories (recursively, by document suffix) and glob patterns into a
/// sorted, de-duplicated list. `exclude` (the output directory) is never entered.
pub fn expand_inputs(patterns: &[String], exclude: Option<&Path>) -> Result<Vec<InputFile>> {
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
            let entries = glob::glob(pattern)
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

/// The compression of a stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Zstd,
    Gzip,
}

pub fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Compression::Zstd
    } else if magic.starts_with(&[0x1F, 0x8B]) {
        Compression::Gzip
    } else {
        Compression::Plain
    }
}

/// Counts the bytes read from the file (compressed position), for progress bars.
struct Counting {
    file: File,
    count: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Open `path` and return a buffered reader of its decompressed bytes.
pub fn open(path: &Path) -> Result<(Box<dyn BufRead + Send>, Compression)> {
    open_counted(path, Arc::default())
}

fn open_counted(
    path: &Path,
    count: Arc<AtomicU64>,
) -> Result<(Box<dyn BufRead + Send>, Compression)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut file = BufReader::with_capacity(1 << 16, Counting { file, count });
    let magic = file.fill_buf().map_err(|e| Error::io(path, e))?;
    let kind = detect(magic);
    let reader: Box<dyn BufRead + Send> = match kind {
        Compression::Plain => Box::new(file),
        Compression::Zstd => {
            let dec =
                zstd::stream::read::Decoder::with_buffer(file).map_err(|e| Error::Corrupt {
                    path: path.into(),
                    msg: format!("zstd: {e}"),
                })?;
            Box::new(BufReader::with_capacity(1 << 16, dec))
        }
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(file),
        )),
    };
    Ok((reader, kind))
}

/// A line of an input file: its 1-based number and bytes without the line ending.
pub struct Line<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
}

/// Streams the lines of one input file, reusing one buffer.
pub struct LineReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    kind: Compression,
    buf: Vec<u8>,
    number: u64,
    consumed: Arc<AtomicU64>,
}

impl LineReader {
    pub fn open(path: &Path) -> Result<LineReader> {
        let consumed = Arc::new(AtomicU64::new(0));
        let (reader, kind) = open_counted(path, consumed.clone())?;
        Ok(LineReader {
            path: path.to_path_buf(),
            reader,
            kind,
            buf: Vec::with_capacity(1 << 16),
            number: 0,
            consumed,
        })
    }

    /// The next line, or `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| {
            let what = match self.kind {
                Compression::Zstd => "zstd stream",
                Compression::Gzip => "gzip stream",
                Compression::Plain => "file",
            };
            match self.kind {
                Compression::Plain => Error::io(&self.path, e),
                _ => Error::Corrupt {
                    path: self.path.clone(),
                    msg: format!(
                        "corrupt or truncated {what} after line {}: {e}",
                        self.number
                    ),
                },
            }
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        let mut end = self.buf.len();
        if end > 0 && self.buf[end - 1] == b'\n' {
            end -= 1;
        }
        if end > 0 && self.buf[end - 1] == b'\r' {
            end -= 1;
        }
        Ok(Some(Line {
            number: self.number,
            bytes: &self.buf[..end],
        }))
    }

    /// Bytes read from the file so far (compressed, read ahead by buffering).
    pub fn consumed(&self) -> u64 {
        self.consumed.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
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

/// Write `bytes` to `path` atomically: a temp name in the same directory, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_name(path);
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The temp name a file is written under before its rename.
pub fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Read a whole (small) file into memory, e.g. a state record.
pub fn read_all(path: &Path) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut v))
        .map_err(|e| Error::io(path, e))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide_compression() {
        assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD, 0]), Compression::Zstd);
        assert_eq!(detect(&[0x1F, 0x8B, 8]), Compression::Gzip);
        assert_eq!(detect(b"{\"text\""), Compression::Plain);
        assert_eq!(detect(b""), Compression::Plain);
    }

    #[test]
    fn stems_drop_all_extensions() {
        assert_eq!(file_stem(Path::new("/a/docs.jsonl.zst")), "docs");
        assert_eq!(file_stem(Path::new("b")), "b");
    }

    #[test]
    fn reads_lines_of_every_compression_and_expands_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"{\"text\":\"a\"}\r\n{\"text\":\"b\"}";
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.jsonl"), body).unwrap();
        std::fs::write(dir.path().join("y.json.gz.bin"), b"ignored").unwrap();
        let z = zstd::encode_all(&body[..], 3).unwrap();
        std::fs::write(dir.path().join("z.jsonl.zst"), z).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        std::fs::write(dir.path().join("a.jsonl.gz"), gz.finish().unwrap()).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("part-00000-0000.jsonl.zst"), b"").unwrap();
        let glob = format!("{}/**/*.jsonl*", dir.path().display());
        let globbed = expand_inputs(&[glob], Some(&out)).unwrap();
        assert_eq!(globbed.len(), 3);
        let files =
            expand_inputs(&[dir.path().to_string_lossy().into_owned()], Some(&out)).unwrap();
        assert_eq!(files, globbed);
        let names: Vec<String> = files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into())
            .collect();
        assert_eq!(names, ["a.jsonl.gz", "x.jsonl", "z.jsonl.zst"]);
        for f in &files {
            let mut r = LineReader::open(&f.path).unwrap();
            let mut lines = Vec::new();
            while let Some(l) = r.next_line().unwrap() {
                lines.push((l.number, String::from_utf8(l.bytes.to_vec()).unwrap()));
            }
            assert_eq!(
                lines,
                [
                    (1, "{\"text\":\"a\"}".to_string()),
                    (2, "{\"text\":\"b\"}".to_string())
                ]
            );
            assert_eq!(r.consumed(), f.size);
        }
    }
}
