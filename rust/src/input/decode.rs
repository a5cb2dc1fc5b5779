//! Format detection by magic bytes and the one decoder switch: a stream of JSONL bytes is
//! plain, zstd or gzip; a Parquet file is read by `input::parquet` instead.

use crate::{Error, Result};
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The compression of a JSONL stream, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Zstd,
    Gzip,
}

impl Compression {
    /// What a read error happened in, for messages.
    fn stream_name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd stream",
            Compression::Gzip => "gzip stream",
            Compression::Plain => "file",
        }
    }
}

/// What an input file holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl(Compression),
    Parquet,
}

const PARQUET_MAGIC: &[u8] = b"PAR1";

/// The compression of a JSONL stream (anything not zstd or gzip is read as plain text).
pub fn detect(magic: &[u8]) -> Compression {
    if magic.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        Compression::Zstd
    } else if magic.starts_with(&[0x1F, 0x8B]) {
        Compression::Gzip
    } else {
        Compression::Plain
    }
}

/// The format of a file that starts with `magic`.
pub fn detect_format(magic: &[u8]) -> Format {
    if magic.starts_with(PARQUET_MAGIC) {
        Format::Parquet
    } else {
        Format::Jsonl(detect(magic))
    }
}

/// Buffer size of the decoders (and of the plain file reader before them).
pub const BUF_BYTES: usize = 1 << 16;

/// The decompressed bytes of `reader`, buffered. The one place a compression is decoded.
pub fn decoder<'a, R: BufRead + Send + 'a>(
    kind: Compression,
    reader: R,
    path: &Path,
) -> Result<Box<dyn BufRead + Send + 'a>> {
    Ok(match kind {
        Compression::Plain => Box::new(reader),
        Compression::Zstd => {
            let dec = zstd::stream::read::Decoder::with_buffer(reader)
                .map_err(|e| read_error(path, kind, None, e))?;
            Box::new(BufReader::with_capacity(BUF_BYTES, dec))
        }
        Compression::Gzip => Box::new(BufReader::with_capacity(
            BUF_BYTES,
            flate2::bufread::MultiGzDecoder::new(reader),
        )),
    })
}

/// A failed read of `path`: an I/O error for a plain file, else a corrupt or truncated
/// stream, with the number of lines read before it when known.
pub fn read_error(
    path: &Path,
    kind: Compression,
    lines_before: Option<u64>,
    e: std::io::Error,
) -> Error {
    if kind == Compression::Plain {
        return Error::io(path, e);
    }
    let what = kind.stream_name();
    let msg = match lines_before {
        Some(n) => format!("corrupt or truncated {what} after line {n}: {e}"),
        None => format!("corrupt or truncated {what}: {e}"),
    };
    Error::Corrupt {
        path: path.to_path_buf(),
        msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn magic_bytes_decide_the_format() {
        assert_eq!(detect(&[0x28, 0xB5, 0x2F, 0xFD, 0]), Compression::Zstd);
        assert_eq!(detect(&[0x1F, 0x8B, 8]), Compression::Gzip);
        assert_eq!(detect(b"{\"text\""), Compression::Plain);
        assert_eq!(detect(b""), Compression::Plain);
        assert_eq!(detect_format(b"PAR1\x15\x04"), Format::Parquet);
        assert_eq!(
            detect_format(b"{\"text\""),
            Format::Jsonl(Compression::Plain)
        );
    }

    #[test]
    fn a_truncated_stream_is_a_corrupt_error_naming_the_file() {
        let body = b"{\"text\": \"a\"}\n".repeat(2000);
        let mut packed = zstd::encode_all(&body[..], 3).unwrap();
        packed.truncate(packed.len() / 2);
        let path = Path::new("cut.jsonl.zst");
        let mut out = Vec::new();
        let e = decoder(Compression::Zstd, &packed[..], path)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        let err = read_error(path, Compression::Zstd, Some(3), e).to_string();
        assert!(
            err.starts_with("cut.jsonl.zst: corrupt or truncated zstd stream after line 3"),
            "{err}"
        );
    }
}
