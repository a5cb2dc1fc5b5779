//! The one envelope of every intermediate file a task writes for another (FORMAT.md,
//! "task intermediates"): magic, version, the job hash, the producing task's id, the
//! payload, then an xxh3-64 checksum of everything before it. A truncated file, a damaged
//! one, or one left by another job is refused with an error naming the file and the task
//! to relaunch, never read as data.

use crate::io::{read_all, tmp_name};
use crate::{Error, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

const MAGIC: &[u8; 8] = b"CPTTASK\x01";
/// Version of the payloads inside (bumped when any task's payload changes).
pub const VERSION: u32 = 3;

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Write `payload` as task `task`'s intermediate of job `job`, atomically.
pub fn write(path: &Path, job: &str, task: &str, payload: &[u8]) -> Result<()> {
    let mut w = FrameWriter::create(path, job, task)?;
    w.put(payload)?;
    w.finish()
}

/// An intermediate written as it is made, so a task never holds a big payload whole:
/// the envelope's head, the payload's bytes as they come, then the checksum, under a temp
/// name until [`FrameWriter::finish`] renames it.
pub struct FrameWriter {
    path: PathBuf,
    file: BufWriter<File>,
    sum: Xxh3,
}

impl FrameWriter {
    pub fn create(path: &Path, job: &str, task: &str) -> Result<FrameWriter> {
        // Per-partition intermediates live in a directory per band or key partition.
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = tmp_name(path);
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = FrameWriter {
            path: path.to_path_buf(),
            file: BufWriter::with_capacity(64 << 10, file),
            sum: Xxh3::new(),
        };
        let mut head = Vec::with_capacity(64);
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        put_str(&mut head, job);
        put_str(&mut head, task);
        w.put(&head)?;
        Ok(w)
    }

    /// Append payload bytes.
    pub fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.sum.update(bytes);
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(tmp_name(&self.path), e))
    }

    /// The checksum, then fsync and rename to the final name.
    pub fn finish(mut self) -> Result<()> {
        let tmp = tmp_name(&self.path);
        let sum = self.sum.digest().to_le_bytes();
        self.file.write_all(&sum).map_err(|e| Error::io(&tmp, e))?;
        let file = self
            .file
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| Error::io(&self.path, e))
    }
}

/// Why an intermediate cannot be used.
fn bad(path: &Path, task: &str, why: &str) -> Error {
    Error::Intermediate {
        path: path.to_path_buf(),
        task: task.to_string(),
        msg: why.to_string(),
    }
}

/// Read the payload of task `task`'s intermediate of job `job` at `path` (in the buffer
/// the file was read into: no second copy).
pub fn read(path: &Path, job: &str, task: &str) -> Result<Vec<u8>> {
    if !path.exists() {
        return Err(bad(path, task, "missing"));
    }
    let mut b = read_all(path)?;
    if b.len() < MAGIC.len() + 4 + 8 || &b[..8] != MAGIC {
        return Err(bad(
            path,
            task,
            "not a cpt task intermediate (truncated or foreign)",
        ));
    }
    let (body, sum) = b.split_at(b.len() - 8);
    let version = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad(
            path,
            task,
            &format!("written by format version {version}, this is {VERSION}"),
        ));
    }
    let mut at = 12;
    let mut take_str = |body: &[u8]| -> Option<String> {
        let n = u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?) as usize;
        let s = String::from_utf8(body.get(at + 4..at + 4 + n)?.to_vec()).ok()?;
        at += 4 + n;
        Some(s)
    };
    let header = take_str(body).zip(take_str(body));
    if xxh3_64(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
        return Err(bad(path, task, "checksum mismatch (truncated or damaged)"));
    }
    let Some((file_job, file_task)) = header else {
        return Err(bad(path, task, "bad header"));
    };
    if file_job != job {
        return Err(bad(
            path,
            task,
            &format!("written by another job (job hash {file_job}, this job {job})"),
        ));
    }
    if file_task != task {
        return Err(bad(
            path,
            task,
            &format!("written by task {file_task}, expected {task}"),
        ));
    }
    b.truncate(b.len() - 8);
    b.drain(..at);
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_refuses_damage_and_other_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        write(&p, "job1", "scan-00000", b"payload").unwrap();
        assert_eq!(read(&p, "job1", "scan-00000").unwrap(), b"payload");
        let err = read(&p, "job2", "scan-00000").unwrap_err().to_string();
        assert!(
            err.contains("another job") && err.contains("scan-00000"),
            "{err}"
        );
        assert!(read(&p, "job1", "scan-00001").is_err());
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let err = read(&p, "job1", "scan-00000").unwrap_err().to_string();
        assert!(err.contains("checksum") && err.contains("x.bin"), "{err}");
        std::fs::write(&p, &bytes[..5]).unwrap();
        assert!(read(&p, "job1", "scan-00000").is_err());
    }
}
