//! A file as numbered records: the lines of a JSONL file (any compression), or the rows of a
//! Parquet file rendered as JSON objects. A record's number is its 1-based line (or row
//! index within the file), so ids generated from it agree between the two forms.

use super::decode::{self, detect_format, Compression, Format};
use super::parquet::ParquetRows;
use super::parse;
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One record: its 1-based number and its bytes (a JSON object, without a line ending).
pub struct Record<'a> {
    pub number: u64,
    pub bytes: &'a [u8],
}

/// A line holding only ASCII whitespace: counted, never a document.
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
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

enum Source {
    Lines {
        reader: Box<dyn BufRead + Send>,
        kind: Compression,
        buf: Vec<u8>,
    },
    Parquet(Box<ParquetRows>),
}

/// Streams the records of one input file, reusing one buffer.
pub struct RecordReader {
    path: PathBuf,
    source: Source,
    number: u64,
    consumed: Arc<AtomicU64>,
}

impl RecordReader {
    pub fn open(path: &Path) -> Result<RecordReader> {
        let consumed = Arc::new(AtomicU64::new(0));
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut file = BufReader::with_capacity(
            decode::BUF_BYTES,
            Counting {
                file,
                count: consumed.clone(),
            },
        );
        let magic = file.fill_buf().map_err(|e| Error::io(path, e))?;
        let source = match detect_format(magic) {
            Format::Parquet => {
                let file = file.into_inner().file;
                Source::Parquet(Box::new(ParquetRows::open(path, file, consumed.clone())?))
            }
            Format::Jsonl(kind) => Source::Lines {
                reader: decode::decoder(kind, file, path)?,
                kind,
                buf: Vec::with_capacity(decode::BUF_BYTES),
            },
        };
        Ok(RecordReader {
            path: path.to_path_buf(),
            source,
            number: 0,
            consumed,
        })
    }

    /// The next record, or `None` at the end of the file. A JSONL record is one line
    /// without its `\n` / `\r\n` ending; blank lines are records too (see [`is_blank`]).
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        let bytes = match &mut self.source {
            Source::Lines { reader, kind, buf } => {
                buf.clear();
                let n = reader
                    .read_until(b'\n', buf)
                    .map_err(|e| decode::read_error(&self.path, *kind, Some(self.number), e))?;
                if n == 0 {
                    return Ok(None);
                }
                let mut end = buf.len();
                if end > 0 && buf[end - 1] == b'\n' {
                    end -= 1;
                }
                if end > 0 && buf[end - 1] == b'\r' {
                    end -= 1;
                }
                &buf[..end]
            }
            Source::Parquet(rows) => match rows.next_row()? {
                Some(row) => row,
                None => return Ok(None),
            },
        };
        self.number += 1;
        Ok(Some(Record {
            number: self.number,
            bytes,
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

/// Calls `f(number, text)` for every document of a file, in order: blank lines are skipped,
/// anything else that is not an object with a string at `text_key` is an error naming the
/// file and line.
pub fn for_each_text(
    path: &Path,
    text_key: &str,
    mut f: impl FnMut(u64, String) -> Result<()>,
) -> Result<()> {
    let mut reader = RecordReader::open(path)?;
    while let Some(rec) = reader.next_record()? {
        if is_blank(rec.bytes) {
            continue;
        }
        let text = parse::parse(rec.bytes, text_key)
            .map_err(|msg| Error::Input {
                path: path.to_path_buf(),
                line: rec.number,
                msg,
            })?
            .text
            .into_owned();
        f(rec.number, text)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(path: &Path) -> Vec<(u64, String)> {
        let mut r = RecordReader::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(l) = r.next_record().unwrap() {
            out.push((l.number, String::from_utf8(l.bytes.to_vec()).unwrap()));
        }
        assert_eq!(r.consumed(), std::fs::metadata(path).unwrap().len());
        out
    }

    #[test]
    fn reads_lines_of_every_compression() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"{\"text\":\"a\"}\r\n\n{\"text\":\"b\"}";
        let plain = dir.path().join("x.jsonl");
        std::fs::write(&plain, body).unwrap();
        let z = dir.path().join("z.jsonl.zst");
        std::fs::write(&z, zstd::encode_all(&body[..], 3).unwrap()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        let g = dir.path().join("a.jsonl.gz");
        std::fs::write(&g, gz.finish().unwrap()).unwrap();
        let want = [
            (1, "{\"text\":\"a\"}".to_string()),
            (2, String::new()),
            (3, "{\"text\":\"b\"}".to_string()),
        ];
        for p in [&plain, &z, &g] {
            assert_eq!(lines(p), want, "{}", p.display());
            let mut texts = Vec::new();
            for_each_text(p, "text", |n, t| {
                texts.push((n, t));
                Ok(())
            })
            .unwrap();
            assert_eq!(texts, [(1, "a".to_string()), (3, "b".to_string())]);
        }
    }

    #[test]
    fn bad_records_and_streams_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, b"{\"text\":\"a\"}\n{\"body\":\"b\"}\n").unwrap();
        let err = for_each_text(&bad, "text", |_, _| Ok(())).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("bad.jsonl:2: missing field `text`"),
            "{err}"
        );
        let cut = dir.path().join("cut.jsonl.zst");
        let body = b"{\"text\":\"abc\"}\n".repeat(5000);
        let mut packed = zstd::encode_all(&body[..], 3).unwrap();
        packed.truncate(packed.len() / 2);
        std::fs::write(&cut, packed).unwrap();
        let err = for_each_text(&cut, "text", |_, _| Ok(())).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("cut.jsonl.zst"), "{err}");
    }
}

/// A bounded-time mutation fuzzer for the JSONL record reader and the record parser (a seeded
/// xorshift drives the edits, as in `shard::reader`'s fuzzer, so a failure names the
/// iteration that reproduces it): plain and zstd files of valid records are damaged (bit
/// flips, byte insertions and deletions, truncation, deep nesting, odd escapes) and read to
/// the end; every record is parsed and spliced. Each case must end in records or an
/// `Error`, never a panic. `CPT_FUZZ_SECS` sets the budget (2 s); the executions are printed.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::fuzzing::{budget, Rng};
    use std::time::Instant;

    const PIECES: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b"\"",
        b"\\",
        b"\\u",
        b"\\ud800",
        b":",
        b",",
        b"\n",
        b"\r\n",
        b"\xff",
        b"\xc3",
        b"null",
        b"123456789012345678901234567890",
        b"1e999",
        b"\"text\"",
        b"\"id\"",
        b"\0",
        b" ",
    ];

    fn mutate(rng: &mut Rng, good: &[u8]) -> Vec<u8> {
        let mut b = good.to_vec();
        for _ in 0..=rng.below(4) {
            let pos = rng.below(b.len() + 1);
            match rng.below(6) {
                0 if !b.is_empty() => {
                    let p = pos.min(b.len() - 1);
                    b[p] ^= 1 << rng.below(8);
                }
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    b.splice(pos..pos, piece.iter().copied());
                }
                2 => {
                    let end = (pos + rng.below(16)).min(b.len());
                    b.drain(pos..end);
                }
                3 => b.truncate(pos),
                4 => {
                    let n = rng.below(300);
                    let deep = [vec![b'['; n], vec![b']'; n]].concat();
                    b.splice(pos..pos, deep);
                }
                _ => {
                    let r = (rng.next() & 0xff) as u8;
                    b.insert(pos, r);
                }
            }
        }
        b
    }

    fn read_all_records(path: &Path) -> usize {
        let Ok(mut r) = RecordReader::open(path) else {
            return 0;
        };
        let mut n = 0;
        while let Ok(Some(rec)) = r.next_record() {
            n += 1;
            if let Ok(d) = crate::pipeline::doc::parse(rec.bytes, "text", "f", rec.number) {
                let out = d.splice(
                    rec.bytes,
                    Some("x\"y"),
                    &[("reject_reason", "\"r\"".into())],
                );
                // A spliced record is still one valid JSON text (checked raw: a valid number
                // such as `1e99999` is out of f64's range but still JSON).
                assert!(
                    serde_json::from_slice::<Box<serde_json::value::RawValue>>(&out).is_ok(),
                    "splice broke {:?} into {:?}",
                    String::from_utf8_lossy(rec.bytes),
                    String::from_utf8_lossy(&out)
                );
            }
        }
        n
    }

    #[test]
    fn damaged_jsonl_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.jsonl");
        let good = concat!(
            "{\"id\": 1, \"text\": \"plain words\", \"meta\": {\"a\": [1, 2.5, null]}}\n",
            "{\"text\": \"esc \\\" \\u00e9 \\n\", \"big\": 123456789012345678901234567890}\n",
            "\n",
            "{\"n\": -0.0, \"text\": \"last\", \"id\": null}\r\n",
        )
        .as_bytes();
        let zst = zstd::encode_all(good, 3).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let started = Instant::now();
        let (mut execs, mut records) = (0u64, 0usize);
        let budget = budget();
        while started.elapsed() < budget {
            let base: &[u8] = if execs % 2 == 0 { good } else { &zst };
            let case = mutate(&mut rng, base);
            std::fs::write(&path, &case).unwrap();
            records += read_all_records(&path);
            execs += 1;
        }
        println!(
            "records fuzz: {execs} executions, {records} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(execs > 0);
    }
}
