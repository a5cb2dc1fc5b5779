//! The one way documents come into the engine, for every command (`run`, `tokenize`, the
//! minhash library API):
//!
//! 1. [`expand`]: files, directories and globs become one sorted list of input files (hidden
//!    files and the output directory skipped);
//! 2. [`decode`]: each file's format is told by its magic bytes (plain, zstd, gzip, Parquet);
//! 3. [`records`]: a file becomes numbered records, each the bytes of one JSON object (a JSONL
//!    line; a Parquet row rendered as compact JSON by [`parquet`]);
//! 4. [`parse`]: a record is parsed once, taking the text at `text_key` and the `id`.
//!
//! Errors name the file and the line (a Parquet row's 1-based index in the file) or the row
//! group, in one form: `file:line: what is wrong`.

pub mod decode;
pub mod expand;
pub mod parquet;
pub mod parse;
pub mod records;

pub use decode::{detect, Compression, Format};
pub use expand::{expand_inputs, expand_with, file_stem, ExpandOptions, InputFile};
pub use parse::{parse, parse_object, Parsed};
pub use records::{for_each_text, is_blank, Record, RecordReader};

/// The field that holds a document's text unless a command is told otherwise.
pub const DEFAULT_TEXT_KEY: &str = "text";
