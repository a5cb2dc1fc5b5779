//! `cpt-curate select`: re-apply selection policies to a finished run's kept documents and
//! their attribute files, without rescoring. Pass 1 reads every kept shard beside its
//! attribute file (checking that they align: same count, same ids in order), pass 2 writes
//! `OUT/kept/`, `OUT/attributes/` (aligned again) and `OUT/rejected/` (with the reason)
//! under the same shard names, and `OUT/select_report.json`. Shards are read and written
//! in parallel; the decisions are global and sequential, so the output does not depend on
//! the thread count.

use super::{attrfile, histograms, select, Candidate, Histogram, Policy, PolicyReport, Removal};
use crate::input::{file_stem, is_blank, RecordReader};
use crate::io::write_atomic;
use crate::pipeline::doc::doc_id;
use crate::pipeline::state::Count;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct ReapplyOptions {
    /// The run's `attributes/` directory.
    pub attributes: PathBuf,
    /// The run's `kept/` directory; `None` = `kept/` beside `attributes`.
    pub kept: Option<PathBuf>,
    pub policies: Vec<String>,
    pub output: PathBuf,
    pub threads: usize,
    pub overwrite: bool,
    pub zstd_level: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReapplyReport {
    pub format: u32,
    pub attributes: String,
    pub kept: String,
    pub output: String,
    pub shards: Vec<String>,
    pub input_docs: u64,
    pub input_bytes: u64,
    pub kept_docs: u64,
    pub kept_bytes: u64,
    pub rejected: BTreeMap<String, Count>,
    pub policies: Vec<PolicyReport>,
    /// Each attribute's distribution over the input documents.
    pub histograms: BTreeMap<String, Histogram>,
    pub read_seconds: f64,
    pub write_seconds: f64,
    pub total_seconds: f64,
    pub threads: usize,
}

struct Doc {
    attrs: Vec<(String, f64)>,
    bytes: u64,
    source: Option<String>,
}

#[derive(serde::Deserialize)]
struct Head {
    id: Option<Value>,
    source: Option<Value>,
}

/// The next non-blank line of a reader, copied.
fn next_line(r: &mut RecordReader) -> Result<Option<(u64, Vec<u8>)>> {
    while let Some(rec) = r.next_record()? {
        if !is_blank(rec.bytes) {
            return Ok(Some((rec.number, rec.bytes.to_vec())));
        }
    }
    Ok(None)
}

/// Walk a kept shard and its attribute file in step, checking they align; `f` gets each
/// kept line, its parsed attributes line and the document's head.
fn walk(
    kept: &Path,
    attrs: &Path,
    mut f: impl FnMut(&[u8], &[u8], Vec<(String, f64)>, Head) -> Result<()>,
) -> Result<()> {
    let stem = file_stem(kept);
    let mut kr = RecordReader::open(kept)?;
    let mut ar = RecordReader::open(attrs)?;
    let mut n = 0u64;
    loop {
        let k = next_line(&mut kr)?;
        let a = next_line(&mut ar)?;
        let (k, a) = match (k, a) {
            (None, None) => return Ok(()),
            (Some((kl, _)), None) => {
                return Err(Error::Corrupt {
                    path: attrs.to_path_buf(),
                    msg: format!(
                        "{n} attribute lines, but {} has more documents (line {kl}): the attribute file does not align with its documents",
                        kept.display()
                    ),
                })
            }
            (None, Some((al, _))) => {
                return Err(Error::Input {
                    path: attrs.to_path_buf(),
                    line: al,
                    msg: format!(
                        "more attribute lines than the {n} documents of {}: the attribute file does not align with its documents",
                        kept.display()
                    ),
                })
            }
            (Some(k), Some(a)) => (k, a),
        };
        n += 1;
        let (id, values) = attrfile::parse(&a.1).map_err(|msg| Error::Input {
            path: attrs.to_path_buf(),
            line: a.0,
            msg,
        })?;
        let head: Head = serde_json::from_slice(&k.1).map_err(|e| Error::Input {
            path: kept.to_path_buf(),
            line: k.0,
            msg: format!("bad JSON: {e}"),
        })?;
        let given = match &head.id {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (doc, _) = doc_id(given.as_deref(), &stem, k.0);
        if doc != id {
            return Err(Error::Input {
                path: attrs.to_path_buf(),
                line: a.0,
                msg: format!(
                    "id `{id}`, but line {} of {} is document `{doc}`: the attribute file does not align with its documents",
                    k.0,
                    kept.display()
                ),
            });
        }
        f(&k.1, &a.1, values, head)?;
    }
}

fn read_shard(kept: &Path, attrs: &Path) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    walk(kept, attrs, |line, _, values, head| {
        docs.push(Doc {
            attrs: values,
            bytes: line.len() as u64,
            source: match head.source {
                Some(Value::String(s)) => Some(s),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            },
        });
        Ok(())
    })?;
    Ok(docs)
}

fn zst(level: i32, lines: &[Vec<u8>], path: &Path) -> Result<()> {
    let mut enc = zstd::Encoder::new(Vec::new(), level).map_err(|e| Error::io(path, e))?;
    for l in lines {
        enc.write_all(l)
            .and_then(|()| enc.write_all(b"\n"))
            .map_err(|e| Error::io(path, e))?;
    }
    write_atomic(path, &enc.finish().map_err(|e| Error::io(path, e))?)
}

/// Per shard: (kept docs, kept bytes, rejected per reason).
type ShardOut = (u64, u64, BTreeMap<String, Count>);

#[allow(clippy::too_many_arguments)]
fn write_shard(
    kept: &Path,
    attrs: &Path,
    name: &str,
    out: &Path,
    removals: &[Option<Removal>],
    level: i32,
) -> Result<ShardOut> {
    let (mut k, mut a, mut r) = (Vec::new(), Vec::new(), Vec::new());
    let mut stats: ShardOut = (0, 0, BTreeMap::new());
    let mut i = 0;
    walk(kept, attrs, |line, attr_line, _, _| {
        match &removals[i] {
            None => {
                k.push(line.to_vec());
                a.push(attr_line.to_vec());
                stats.0 += 1;
                stats.1 += line.len() as u64;
            }
            Some(rm) => {
                let mut obj = crate::input::parse_object(line).map_err(|msg| Error::Input {
                    path: kept.to_path_buf(),
                    line: i as u64 + 1,
                    msg,
                })?;
                obj.insert("reject_reason".into(), Value::String(rm.reason.clone()));
                obj.insert("reject_detail".into(), Value::String(rm.detail.clone()));
                r.push(serde_json::to_vec(&obj).expect("JSON serializes"));
                stats
                    .2
                    .entry(rm.reason.clone())
                    .or_default()
                    .add(line.len() as u64);
            }
        }
        i += 1;
        Ok(())
    })?;
    zst(level, &k, &out.join("kept").join(name))?;
    zst(level, &a, &out.join("attributes").join(name))?;
    if !r.is_empty() {
        zst(level, &r, &out.join("rejected").join(name))?;
    }
    Ok(stats)
}

/// First error in shard order, else every result.
fn ordered<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    results.into_iter().collect()
}

pub fn reapply(o: &ReapplyOptions) -> Result<ReapplyReport> {
    let started = Instant::now();
    let policies: Vec<Policy> = o
        .policies
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Policy::parse(s).map_err(|e| Error::Config(format!("--policy #{}: {e}", i + 1)))
        })
        .collect::<Result<_>>()?;
    if policies.is_empty() {
        return Err(Error::Config("select: give at least one --policy".into()));
    }
    let kept_dir = o.kept.clone().unwrap_or_else(|| {
        o.attributes
            .parent()
            .map_or_else(|| PathBuf::from("kept"), |p| p.join("kept"))
    });
    let mut names = Vec::new();
    for e in std::fs::read_dir(&o.attributes).map_err(|e| Error::io(&o.attributes, e))? {
        let e = e.map_err(|e| Error::io(&o.attributes, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jsonl.zst") && !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(Error::Config(format!(
            "{}: no attribute files (*.jsonl.zst)",
            o.attributes.display()
        )));
    }
    for n in &names {
        let k = kept_dir.join(n);
        if !k.is_file() {
            return Err(Error::Config(format!(
                "{}: no kept shard {} for it",
                o.attributes.join(n).display(),
                k.display()
            )));
        }
    }
    // The output: new, or replaced with --overwrite; never the run itself.
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    };
    if same(&o.output.join("kept"), &kept_dir) || same(&o.output.join("attributes"), &o.attributes)
    {
        return Err(Error::Config(format!(
            "{}: the output is the run being selected from; choose another directory",
            o.output.display()
        )));
    }
    let ours = ["kept", "attributes", "rejected", "select_report.json"];
    if ours.iter().any(|n| o.output.join(n).exists()) {
        if !o.overwrite {
            return Err(Error::Config(format!(
                "{} holds a previous selection; pass --overwrite to replace it",
                o.output.display()
            )));
        }
        for n in ours {
            let p = o.output.join(n);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            } else if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    for d in ["kept", "attributes", "rejected"] {
        let p = o.output.join(d);
        std::fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let threads = pool.current_num_threads();

    let t = Instant::now();
    let shards: Vec<Vec<Doc>> = ordered(pool.install(|| {
        names
            .par_iter()
            .map(|n| read_shard(&kept_dir.join(n), &o.attributes.join(n)))
            .collect()
    }))?;
    let read_seconds = t.elapsed().as_secs_f64();
    let all: Vec<(usize, &Doc)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, docs)| docs.iter().map(move |d| (s, d)))
        .collect();
    let cands: Vec<Candidate<'_>> = all
        .iter()
        .map(|(_, d)| Candidate {
            attrs: &d.attrs,
            bytes: d.bytes,
            source: d.source.as_deref(),
        })
        .collect();
    let hist = histograms(all.iter().map(|(_, d)| d.attrs.as_slice()));
    let (removals, reports) = select(&policies, &cands).map_err(|e| {
        let s = all[e.index].0;
        let line = e.index - all.iter().position(|(x, _)| *x == s).unwrap_or(0) + 1;
        Error::Input {
            path: o.attributes.join(&names[s]),
            line: line as u64,
            msg: e.msg,
        }
    })?;
    let mut per_shard: Vec<&[Option<Removal>]> = Vec::with_capacity(shards.len());
    let mut at = 0;
    for docs in &shards {
        per_shard.push(&removals[at..at + docs.len()]);
        at += docs.len();
    }
    let t = Instant::now();
    let outs: Vec<ShardOut> = ordered(pool.install(|| {
        names
            .par_iter()
            .zip(per_shard.par_iter())
            .map(|(n, rm)| {
                write_shard(
                    &kept_dir.join(n),
                    &o.attributes.join(n),
                    n,
                    &o.output,
                    rm,
                    o.zstd_level,
                )
            })
            .collect()
    }))?;
    let write_seconds = t.elapsed().as_secs_f64();
    let mut rejected: BTreeMap<String, Count> = BTreeMap::new();
    let (mut kept_docs, mut kept_bytes) = (0, 0);
    for (d, b, r) in outs {
        kept_docs += d;
        kept_bytes += b;
        for (k, c) in r {
            let e = rejected.entry(k).or_default();
            e.docs += c.docs;
            e.bytes += c.bytes;
        }
    }
    let input_docs = cands.len() as u64;
    let input_bytes: u64 = cands.iter().map(|c| c.bytes).sum();
    let rej_docs: u64 = rejected.values().map(|c| c.docs).sum();
    if kept_docs + rej_docs != input_docs {
        return Err(Error::Accounting(format!(
            "select: {input_docs} documents in, {kept_docs} kept + {rej_docs} rejected written"
        )));
    }
    let report = ReapplyReport {
        format: 1,
        attributes: o.attributes.to_string_lossy().into_owned(),
        kept: kept_dir.to_string_lossy().into_owned(),
        output: o.output.to_string_lossy().into_owned(),
        shards: names,
        input_docs,
        input_bytes,
        kept_docs,
        kept_bytes,
        rejected,
        policies: reports,
        histograms: hist,
        read_seconds,
        write_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        threads,
    };
    let mut json = serde_json::to_vec_pretty(&report).expect("report serializes");
    json.push(b'\n');
    write_atomic(&o.output.join("select_report.json"), &json)?;
    Ok(report)
}
