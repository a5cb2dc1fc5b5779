//! The one envelope of every intermediate file a task writes for another (FORMAT.md,
//! "task intermediates"): magic, version, the job hash, the producing task's id, the
//! payload, then an xxh3-64 checksum of everything before it. A truncated file, a damaged
//! one, or one left by another job is refused with an error naming the file and the task
//! to relaunch, never read as data.

use crate::io::{read_all, write_atomic};
use crate::{Error, Result};
use std::path::Path;
use xxhash_rust::xxh3::xxh3_64;

const MAGIC: &[u8; 8] = b"CPTTASK\x01";
/// Version of the payloads inside (bumped when any task's payload changes).
pub const VERSION: u32 = 2;

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Write `payload` as task `task`'s intermediate of job `job`, atomically.
pub fn write(path: &Path, job: &str, task: &str, payload: &[u8]) -> Result<()> {
    let mut b = Vec::with_capacity(payload.len() + 64);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    put_str(&mut b, job);
    put_str(&mut b, task);
    b.extend_from_slice(payload);
    let sum = xxh3_64(&b);
    b.extend_from_slice(&sum.to_le_bytes());
    // Per-partition intermediates live in a directory per band or key partition.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir, e))?;
    }
    write_atomic(path, &b)
}

/// Why an intermediate cannot be used.
fn bad(path: &Path, task: &str, why: &str) -> Error {
    Error::Intermediate {
        path: path.to_path_buf(),
        task: task.to_string(),
        msg: why.to_string(),
    }
}

/// Read the payload of task `task`'s intermediate of job `job` at `path`.
pub fn read(path: &Path, job: &str, task: &str) -> Result<Vec<u8>> {
    if !path.exists() {
        return Err(bad(path, task, "missing"));
    }
    let b = read_all(path)?;
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
    Ok(body[at..].to_vec())
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
