//! Megatron-LM `MMapIndexedDataset` export (FORMAT.md section 4): one sequence per document, so
//! Megatron-LM and NeMo can train on cpt output without re-tokenizing.

use super::format::Dtype;
use super::reader::Dataset;
use crate::io::tmp_name;
use crate::{Error, Result};
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

pub const IDX_MAGIC: &[u8; 9] = b"MMIDIDX\x00\x00";

/// Megatron's dtype code for a token width: 8 = uint16, 4 = int32.
fn dtype_code(dtype: Dtype) -> u8 {
    match dtype {
        Dtype::U16 => 8,
        Dtype::U32 => 4,
    }
}

/// The two files of a Megatron export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MegatronFiles {
    pub bin: String,
    pub idx: String,
}

/// Write `PREFIX.bin` and `PREFIX.idx` from the dataset of `manifest` (a manifest.json).
pub fn export_manifest(manifest: &Path, prefix: &Path) -> Result<MegatronFiles> {
    let mut ds = Dataset::open(manifest, None)?;
    let (bin, idx) = export(&mut ds, prefix)?;
    Ok(MegatronFiles {
        bin: bin.to_string_lossy().into_owned(),
        idx: idx.to_string_lossy().into_owned(),
    })
}

/// Write `PREFIX.bin` and `PREFIX.idx` from a dataset; returns the two paths.
pub fn export(dataset: &mut Dataset, prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    let bin_path = with_suffix(prefix, ".bin");
    let idx_path = with_suffix(prefix, ".idx");
    let dtype = if dataset.manifest.dtype == "uint16" {
        Dtype::U16
    } else {
        Dtype::U32
    };
    let (bin_tmp, idx_tmp) = (tmp_name(&bin_path), tmp_name(&idx_path));
    let mut bin = BufWriter::with_capacity(
        1 << 20,
        File::create(&bin_tmp).map_err(|e| Error::io(&bin_tmp, e))?,
    );
    let mut sizes: Vec<i32> = Vec::new();
    let mut buf = Vec::new();
    for shard in dataset.shards_mut() {
        for j in 0..shard.num_docs() as usize {
            let doc = shard.document(j)?;
            let len = i32::try_from(doc.len()).map_err(|_| Error::Shard {
                path: shard.path().to_path_buf(),
                msg: format!(
                    "document {j} has {} tokens, more than Megatron's int32 sizes allow",
                    doc.len()
                ),
            })?;
            sizes.push(len);
            buf.clear();
            // Megatron's int32 holds every u32 id below 2^31; vocabularies are far smaller.
            dtype.encode_into(&doc, &mut buf);
            bin.write_all(&buf).map_err(|e| Error::io(&bin_tmp, e))?;
        }
    }
    let file = bin
        .into_inner()
        .map_err(|e| Error::io(&bin_tmp, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(&bin_tmp, e))?;

    let n = sizes.len() as u64;
    let mut idx = Vec::with_capacity(34 + sizes.len() * 20 + 8);
    idx.extend_from_slice(IDX_MAGIC);
    idx.extend_from_slice(&1u64.to_le_bytes());
    idx.push(dtype_code(dtype));
    idx.extend_from_slice(&n.to_le_bytes());
    idx.extend_from_slice(&(n + 1).to_le_bytes());
    for &s in &sizes {
        idx.extend_from_slice(&s.to_le_bytes());
    }
    let mut pointer = 0i64;
    for &s in &sizes {
        idx.extend_from_slice(&pointer.to_le_bytes());
        pointer += i64::from(s) * dtype.width() as i64;
    }
    for d in 0..=n {
        idx.extend_from_slice(&(d as i64).to_le_bytes());
    }
    let mut f = File::create(&idx_tmp).map_err(|e| Error::io(&idx_tmp, e))?;
    f.write_all(&idx)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&idx_tmp, e))?;
    std::fs::rename(&bin_tmp, &bin_path).map_err(|e| Error::io(&bin_path, e))?;
    std::fs::rename(&idx_tmp, &idx_path).map_err(|e| Error::io(&idx_path, e))?;
    Ok((bin_path, idx_path))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}
