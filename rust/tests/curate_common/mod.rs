//! Helpers shared by the `curate_*` integration tests.
#![allow(dead_code)]

use cpt_engine::config::Config;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub fn config(inputs: &[&Path], output: &Path, sets: &[&str]) -> Config {
    let mut all: Vec<String> = vec![
        format!(
            "inputs={}",
            serde_json::to_string(
                &inputs
                    .iter()
                    .map(|p| p.to_string_lossy())
                    .collect::<Vec<_>>()
            )
            .unwrap()
        ),
        format!(
            "output={}",
            serde_json::to_string(&output.to_string_lossy()).unwrap()
        ),
    ];
    all.extend(sets.iter().map(|s| s.to_string()));
    Config::resolve(None, None, &all).unwrap()
}

pub fn zstd_file(path: &Path, body: &[u8]) {
    std::fs::write(path, zstd::encode_all(body, 3).unwrap()).unwrap();
}

pub fn gzip_file(path: &Path, body: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// The decompressed JSON lines of every shard in `dir`, in file-name order.
pub fn read_shards(dir: &Path) -> Vec<serde_json::Value> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let mut s = String::new();
        zstd::Decoder::new(std::fs::File::open(&p).unwrap())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        out.extend(
            s.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    out
}

/// Every output file (kept/, rejected/) with its bytes, for byte-for-byte comparisons.
pub fn output_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for sub in ["kept", "rejected"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(out.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            files.push((
                format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()),
                std::fs::read(&p).unwrap(),
            ));
        }
    }
    files
}

/// The report without its timings and thread count (which vary between runs).
pub fn stable_report(out: &Path) -> serde_json::Value {
    let mut r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let o = r.as_object_mut().unwrap();
    for k in ["timings", "threads", "resumed_scans", "resumed_writes"] {
        o.shift_remove(k);
    }
    let config = o.get_mut("config").unwrap().as_object_mut().unwrap();
    config.shift_remove("threads");
    config.shift_remove("output");
    r
}

/// A prose document of `words` distinct-ish words that passes the default filters.
pub fn prose(seed: usize, words: usize) -> String {
    const VOCAB: &[&str] = &[
        "the",
        "council",
        "shall",
        "review",
        "annual",
        "budget",
        "before",
        "spring",
        "members",
        "vote",
        "on",
        "proposals",
        "about",
        "roads",
        "schools",
        "water",
        "and",
        "parks",
        "citizens",
        "may",
        "attend",
        "public",
        "hearings",
        "where",
        "their",
        "views",
        "are",
        "heard",
        "recorded",
        "considered",
        "carefully",
    ];
    let mut s = String::new();
    let mut x = seed as u64 * 2654435761 + 12345;
    for i in 0..words {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i > 0 {
            s.push(if i % 12 == 0 { '\n' } else { ' ' });
        }
        s.push_str(VOCAB[(x % VOCAB.len() as u64) as usize]);
        if i % 12 == 11 {
            s.push('.');
        }
    }
    s
}
