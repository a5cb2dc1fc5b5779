//! Parquet input: each row becomes one record, the compact JSON object of its columns in
//! schema order (`{"id":"a","text":"...","score":0.5}`), written with `serde_json`'s number and
//! string forms. A Parquet file and the JSONL file that `serde_json` writes from the same
//! records therefore give the same record bytes, so every stage (and every output) treats the
//! two alike. A null is written as `null`.
//!
//! Row groups are streamed one at a time, in batches of [`BATCH_ROWS`] rows, never the whole
//! file; decoder errors name the file and the row group. Column types without a JSON form
//! (binary, dates, decimals, ...) are refused when the file is opened, naming the column.

use crate::{Error, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Rows decoded at a time: bounds memory to a batch of a row group's pages and rows.
pub const BATCH_ROWS: usize = 1024;

/// The rows of one Parquet file as JSON object records.
pub struct ParquetRows {
    path: PathBuf,
    file: File,
    meta: ArrowReaderMetadata,
    /// `"name":` of each column, JSON-escaped once.
    keys: Vec<Vec<u8>>,
    next_group: usize,
    /// The row group being read and the file's row index its first row has.
    group: Option<(usize, u64, ParquetRecordBatchReader)>,
    rows_before: u64,
    buf: Vec<u8>,
    ends: Vec<usize>,
    next: usize,
    consumed: Arc<AtomicU64>,
}

impl ParquetRows {
    /// Read the footer and check every column has a JSON form.
    pub fn open(path: &Path, file: File, consumed: Arc<AtomicU64>) -> Result<ParquetRows> {
        let meta =
            ArrowReaderMetadata::load(&file, Default::default()).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                msg: format!("not a readable Parquet file: {e}"),
            })?;
        let mut keys = Vec::new();
        for field in meta.schema().fields() {
            check_type(field.data_type()).map_err(|what| Error::Corrupt {
                path: path.to_path_buf(),
                msg: format!(
                    "Parquet column `{}` has type {what}, which has no JSON form \
                     (supported: strings, integers, floats, booleans, and lists, structs, \
                     maps and dictionaries of these)",
                    field.name()
                ),
            })?;
            let mut key = serde_json::to_vec(field.name()).expect("a string serializes");
            key.push(b':');
            keys.push(key);
        }
        // Progress counts the row groups' compressed bytes, as they are read.
        consumed.store(0, Ordering::Relaxed);
        Ok(ParquetRows {
            path: path.to_path_buf(),
            file,
            meta,
            keys,
            next_group: 0,
            group: None,
            rows_before: 0,
            buf: Vec::new(),
            ends: Vec::new(),
            next: 0,
            consumed,
        })
    }

    /// The next row's JSON object, or `None` after the last row group.
    pub fn next_row(&mut self) -> Result<Option<&[u8]>> {
        while self.next == self.ends.len() {
            if !self.fill()? {
                return Ok(None);
            }
        }
        let start = if self.next == 0 {
            0
        } else {
            self.ends[self.next - 1]
        };
        let end = self.ends[self.next];
        self.next += 1;
        Ok(Some(&self.buf[start..end]))
    }

    /// Render the next batch of rows; false at the end of the file.
    fn fill(&mut self) -> Result<bool> {
        loop {
            if let Some((g, first_row, reader)) = &mut self.group {
                let (g, first_row) = (*g, *first_row);
                match reader.next() {
                    Some(Ok(batch)) => {
                        self.render(&batch);
                        self.rows_before += batch.num_rows() as u64;
                        return Ok(true);
                    }
                    Some(Err(e)) => return Err(self.group_error(g, first_row, &e)),
                    None => {
                        let size = self.meta.metadata().row_group(g).compressed_size();
                        self.consumed
                            .fetch_add(u64::try_from(size).unwrap_or(0), Ordering::Relaxed);
                        self.group = None;
                    }
                }
            } else if self.next_group < self.meta.metadata().num_row_groups() {
                let g = self.next_group;
                self.next_group += 1;
                let file = self
                    .file
                    .try_clone()
                    .map_err(|e| Error::io(&self.path, e))?;
                let reader =
                    ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
                        .with_row_groups(vec![g])
                        .with_batch_size(BATCH_ROWS)
                        .build()
                        .map_err(|e| self.group_error(g, self.rows_before, &e))?;
                self.group = Some((g, self.rows_before, reader));
            } else {
                return Ok(false);
            }
        }
    }

    fn group_error(&self, g: usize, first_row: u64, e: &dyn std::fmt::Display) -> Error {
        let rows = self.meta.metadata().row_group(g).num_rows();
        Error::Corrupt {
            path: self.path.clone(),
            msg: format!(
                "corrupt Parquet row group {g} (rows {}..{}): {e}",
                first_row + 1,
                first_row + u64::try_from(rows).unwrap_or(0)
            ),
        }
    }

    fn render(&mut self, batch: &RecordBatch) {
        self.buf.clear();
        self.ends.clear();
        self.next = 0;
        let columns = batch.columns();
        for row in 0..batch.num_rows() {
            self.buf.push(b'{');
            for (j, (key, col)) in self.keys.iter().zip(columns).enumerate() {
                if j > 0 {
                    self.buf.push(b',');
                }
                self.buf.extend_from_slice(key);
                write_value(&mut self.buf, col.as_ref(), row);
            }
            self.buf.push(b'}');
            self.ends.push(self.buf.len());
        }
    }
}

/// `Err(type name)` unless values of `dt` can be written as JSON by [`write_value`].
fn check_type(dt: &DataType) -> std::result::Result<(), String> {
    use DataType as D;
    match dt {
        D::Null
        | D::Boolean
        | D::Int8
        | D::Int16
        | D::Int32
        | D::Int64
        | D::UInt8
        | D::UInt16
        | D::UInt32
        | D::UInt64
        | D::Float16
        | D::Float32
        | D::Float64
        | D::Utf8
        | D::LargeUtf8
        | D::Utf8View => Ok(()),
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => check_type(f.data_type()),
        D::Struct(fields) => fields.iter().try_for_each(|f| check_type(f.data_type())),
        D::Map(entries, _) => match entries.data_type() {
            D::Struct(kv)
                if kv.len() == 2
                    && matches!(kv[0].data_type(), D::Utf8 | D::LargeUtf8 | D::Utf8View) =>
            {
                check_type(kv[1].data_type())
            }
            _ => Err(format!("{dt} (a map whose keys are not strings)")),
        },
        D::Dictionary(key, value) if key.is_integer() => check_type(value),
        other => Err(other.to_string()),
    }
}

/// Append `serde_json`'s form of a scalar.
fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(&mut *out, v).expect("writing JSON to memory cannot fail");
}

/// Append row `i` of `a` as JSON; `a`'s type passed [`check_type`].
fn write_value(out: &mut Vec<u8>, a: &dyn Array, i: usize) {
    use DataType as D;
    if a.is_null(i) {
        out.extend_from_slice(b"null");
        return;
    }
    match a.data_type() {
        D::Null => out.extend_from_slice(b"null"),
        D::Boolean => push_json(out, &a.as_boolean().value(i)),
        D::Int8 => push_json(out, &a.as_primitive::<Int8Type>().value(i)),
        D::Int16 => push_json(out, &a.as_primitive::<Int16Type>().value(i)),
        D::Int32 => push_json(out, &a.as_primitive::<Int32Type>().value(i)),
        D::Int64 => push_json(out, &a.as_primitive::<Int64Type>().value(i)),
        D::UInt8 => push_json(out, &a.as_primitive::<UInt8Type>().value(i)),
        D::UInt16 => push_json(out, &a.as_primitive::<UInt16Type>().value(i)),
        D::UInt32 => push_json(out, &a.as_primitive::<UInt32Type>().value(i)),
        D::UInt64 => push_json(out, &a.as_primitive::<UInt64Type>().value(i)),
        D::Float16 => push_json(out, &a.as_primitive::<Float16Type>().value(i).to_f32()),
        D::Float32 => push_json(out, &a.as_primitive::<Float32Type>().value(i)),
        D::Float64 => push_json(out, &a.as_primitive::<Float64Type>().value(i)),
        D::Utf8 => push_json(out, a.as_string::<i32>().value(i)),
        D::LargeUtf8 => push_json(out, a.as_string::<i64>().value(i)),
        D::Utf8View => push_json(out, a.as_string_view().value(i)),
        D::List(_) => write_list(out, &a.as_list::<i32>().value(i)),
        D::LargeList(_) => write_list(out, &a.as_list::<i64>().value(i)),
        D::FixedSizeList(..) => write_list(out, &a.as_fixed_size_list().value(i)),
        D::Struct(fields) => {
            let s = a.as_struct();
            out.push(b'{');
            for (j, (f, col)) in fields.iter().zip(s.columns()).enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                push_json(out, f.name());
                out.push(b':');
                write_value(out, col.as_ref(), i);
            }
            out.push(b'}');
        }
        D::Map(..) => {
            let entries = a.as_map().value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            out.push(b'{');
            for j in 0..entries.len() {
                if j > 0 {
                    out.push(b',');
                }
                write_value(out, keys.as_ref(), j);
                out.push(b':');
                write_value(out, values.as_ref(), j);
            }
            out.push(b'}');
        }
        D::Dictionary(key, _) => {
            let d = a.as_any_dictionary();
            let k = dictionary_key(d.keys(), key, i);
            write_value(out, d.values().as_ref(), k);
        }
        other => unreachable!("check_type refuses {other}"),
    }
}

fn write_list(out: &mut Vec<u8>, items: &ArrayRef) {
    out.push(b'[');
    for j in 0..items.len() {
        if j > 0 {
            out.push(b',');
        }
        write_value(out, items.as_ref(), j);
    }
    out.push(b']');
}

/// The values index a dictionary's integer key array holds at row `i`.
fn dictionary_key(keys: &dyn Array, kind: &DataType, i: usize) -> usize {
    use DataType as D;
    let k: i128 = match kind {
        D::Int8 => keys.as_primitive::<Int8Type>().value(i).into(),
        D::Int16 => keys.as_primitive::<Int16Type>().value(i).into(),
        D::Int32 => keys.as_primitive::<Int32Type>().value(i).into(),
        D::Int64 => keys.as_primitive::<Int64Type>().value(i).into(),
        D::UInt8 => keys.as_primitive::<UInt8Type>().value(i).into(),
        D::UInt16 => keys.as_primitive::<UInt16Type>().value(i).into(),
        D::UInt32 => keys.as_primitive::<UInt32Type>().value(i).into(),
        D::UInt64 => keys.as_primitive::<UInt64Type>().value(i).into(),
        other => unreachable!("check_type refuses dictionary keys of {other}"),
    };
    // A valid dictionary array's keys index its values (arrow checks this on construction).
    usize::try_from(k).expect("dictionary key is a valid index")
}
