//! The task bodies: each reads the intermediates of the stage before, runs the pipeline's
//! own phase code (`crate::pipeline::{scan, decide, write}`) on its part, writes its
//! intermediates (framed, atomic) and then its marker. No curation logic lives here.

use super::codec::{DecideParts, Decisions, WriteParts};
use super::{exact, frame, near, JobPlan};
use crate::config::Config;
use crate::dedup::NearDup;
use crate::pipeline::state::ScanFile;
use crate::pipeline::tally::{DuplicateIds, Tally};
use crate::pipeline::{scan, write, RunOptions};
use crate::report::{StageTiming, Timings};
use crate::stage::{write_stages, ScanStages};
use crate::{Error, Result};
use std::time::Instant;

/// What a task runs with.
pub struct TaskEnv<'a> {
    pub config: &'a Config,
    pub plan: &'a JobPlan,
    pub opts: &'a RunOptions,
    pub pool: &'a rayon::ThreadPool,
}

/// Run task `id` of the job (whether or not it completed before), then mark it done.
pub fn run_task(env: &TaskEnv<'_>, id: &str) -> Result<()> {
    let plan = env.plan;
    let started = Instant::now();
    let cpu = super::TaskCpu::start();
    // Runs spilled to disk by the task (band tables, the cluster's link sort), and a band
    // task's passes over the shingle sets.
    let (mut spill_runs, mut set_passes) = (0, 0);
    if id == "init" {
        plan.init(env.opts.overwrite)?;
    } else {
        plan.check_init()?;
        if plan.mem_budget()?.is_some() {
            super::return_large_frees();
        }
        let numbered = |k: &str, n: usize| {
            k.parse()
                .ok()
                .filter(|&k| k < n)
                .ok_or_else(|| unknown(plan, id))
        };
        match id.split_once('-') {
            None if id == "decide" => super::decide::decide_task(env)?,
            None if id == "cluster" && plan.bands > 0 => spill_runs = near::cluster_task(env)?,
            None if id == "finish" => finish_task(env)?,
            Some(("scan", k)) => scan_task(env, numbered(k, plan.tasks())?)?,
            Some(("exact", p)) => exact::exact_task(env, numbered(p, plan.exact_partitions())?)?,
            Some(("band", b)) => {
                (spill_runs, set_passes) = near::band_task(env, numbered(b, plan.bands)?)?;
            }
            Some(("write", k)) => write_task(env, numbered(k, plan.tasks())?)?,
            _ => return Err(unknown(plan, id)),
        }
    }
    if std::env::var("CPT_TEST_ABORT_IN_TASK").is_ok_and(|t| t == id) {
        // Test hook: die after the task's work, before its marker (kill -9 tests).
        std::process::abort();
    }
    plan.mark_done(
        id,
        super::TaskFacts {
            seconds: started.elapsed().as_secs_f64(),
            cpu_seconds: cpu.seconds(),
            spill_runs,
            set_passes,
        },
    )
}

fn unknown(plan: &JobPlan, id: &str) -> Error {
    let stages: Vec<String> = plan
        .stages()
        .into_iter()
        .map(|(_, ids)| match ids.as_slice() {
            [one] => one.clone(),
            [first, .., last] => format!("{first} .. {last}"),
            [] => String::new(),
        })
        .collect();
    Error::Config(format!(
        "no task {id:?} in this job: tasks are {}",
        stages.join(", ")
    ))
}

fn scan_task(env: &TaskEnv<'_>, k: usize) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let near = if config.minhash.enabled {
        Some(NearDup::new(&config.minhash)?)
    } else {
        None
    };
    let stages = ScanStages::from_config(config)?;
    let scanner = scan::Scanner {
        config,
        stages: &stages,
        near: near.as_ref(),
        batch_bytes: scan::batch_bytes(plan.mem_budget()?),
    };
    let task = format!("scan-{k:05}");
    // One file's records in memory at a time: each goes to disk before the next is read.
    for i in plan.groups[k].clone() {
        let name = plan.inputs[i].path.display().to_string();
        // The sketches leave each batch for per-band intermediates written as the scan
        // goes (12 bytes a band instead of the whole sketch), so no task holds them.
        let mut split = match &near {
            Some(nd) => Some(near::SketchSplit::new(nd, &name, |payload| {
                let path = match payload {
                    near::Payload::Band(b) => plan.band_entries_path(b, i),
                    near::Payload::Sets => plan.sets_path(i),
                };
                frame::FrameWriter::create(&path, &plan.job, &task)
            })?),
            None => None,
        };
        let s = env.pool.install(|| {
            scanner.scan_batches(
                &plan.inputs[i],
                |_| {},
                |first, recs| {
                    if let Some(split) = &mut split {
                        for (j, rec) in recs.iter_mut().enumerate() {
                            split.add(first + j, rec)?;
                        }
                    }
                    Ok(())
                },
            )
        })?;
        for sink in split.map(near::SketchSplit::finish).unwrap_or_default() {
            sink.finish()?;
        }
        if plan.exact {
            let parts = exact::split_keys(&s, plan.exact_partitions());
            for (p, payload) in parts.iter().enumerate() {
                frame::write(&plan.key_entries_path(p, i), &plan.job, &task, payload)?;
            }
        }
        frame::write(&plan.scan_path(i), &plan.job, &task, &s.encode())?;
    }
    Ok(())
}

/// Read intermediate `path` of task `task`; when it is unusable, forget that `task`
/// completed (so a relaunched run redoes it) and say which task to relaunch.
pub(super) fn read_or_unmark(
    plan: &JobPlan,
    path: &std::path::Path,
    task: &str,
) -> Result<Vec<u8>> {
    frame::read(path, &plan.job, task).inspect_err(|_| plan.unmark(task))
}

pub(super) fn decoded<T>(
    plan: &JobPlan,
    path: &std::path::Path,
    task: &str,
    r: std::result::Result<T, String>,
) -> Result<T> {
    r.map_err(|msg| {
        plan.unmark(task);
        Error::Intermediate {
            path: path.to_path_buf(),
            task: task.to_string(),
            msg,
        }
    })
}

/// The scan records of input file `file`, from its scan task's intermediate.
pub(super) fn load_scan(plan: &JobPlan, file: usize) -> Result<ScanFile> {
    let task = format!("scan-{:05}", plan.owner(file));
    let path = plan.scan_path(file);
    let bytes = read_or_unmark(plan, &path, &task)?;
    let s = decoded(plan, &path, &task, ScanFile::decode(&bytes))?;
    let input = &plan.inputs[file];
    if s.input_size != input.size {
        return Err(Error::Config(format!(
            "{} changed since it was scanned ({} -> {} bytes); pass --overwrite to start over",
            input.path.display(),
            s.input_size,
            input.size
        )));
    }
    Ok(s)
}

/// Scan task `k`'s decisions from `path`, written by `task`.
pub(super) fn load_decisions_of(
    plan: &JobPlan,
    k: usize,
    path: &std::path::Path,
    task: &str,
) -> Result<Decisions> {
    let bytes = read_or_unmark(plan, path, task)?;
    let d = decoded(plan, path, task, Decisions::decode(bytes))?;
    if d.files() != plan.groups[k].len() {
        return decoded(plan, path, task, Err("wrong number of files".into()));
    }
    Ok(d)
}

/// Scan task `k`'s final decisions.
fn load_decisions(plan: &JobPlan, k: usize) -> Result<Decisions> {
    load_decisions_of(plan, k, &plan.decisions_path(k), plan.decisions_task())
}

fn write_task(env: &TaskEnv<'_>, k: usize) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let state = plan.state();
    let writers = write_stages(config, &state.dir)?;
    let decisions = load_decisions(plan, k)?;
    let mut writer = write::FileWriter::for_output(config, &writers, &plan.output)?;
    writer.batch_bytes = scan::batch_bytes(plan.mem_budget()?);
    let mut stats: WriteParts = Vec::new();
    for (j, i) in plan.groups[k].clone().enumerate() {
        let scan = load_scan(plan, i)?;
        let input = &plan.inputs[i];
        let file_decisions = decisions.file(j);
        let s = env
            .pool
            .install(|| writer.write(i, input, &scan, &file_decisions, |_| {}))?;
        crate::pipeline::check_file(&input.path, &scan, &s)?;
        stats.push(s);
    }
    let json = serde_json::to_vec(&stats).expect("write stats serialize");
    frame::write(
        &plan.write_path(k),
        &plan.job,
        &format!("write-{k:05}"),
        &json,
    )
}

/// A decide or cluster task's report parts.
fn load_parts(plan: &JobPlan, path: &std::path::Path, task: &str) -> Result<DecideParts> {
    let bytes = read_or_unmark(plan, path, task)?;
    decoded(
        plan,
        path,
        task,
        serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
    )
}

/// A stage's task markers: summed seconds, CPU seconds and spilled runs, largest peak RSS.
#[derive(Default)]
pub(super) struct StageMarks {
    pub seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
    spill_runs: u64,
    set_passes: u64,
}

pub(super) fn stage_marks(plan: &JobPlan, ids: &[String]) -> Result<StageMarks> {
    let mut s = StageMarks::default();
    for id in ids {
        if let Some(m) = plan.done(id)? {
            s.seconds += m.seconds;
            s.cpu_seconds += m.cpu_seconds;
            s.peak_rss = s.peak_rss.max(m.peak_rss);
            s.spill_runs += m.spill_runs;
            s.set_passes += m.set_passes;
        }
    }
    Ok(s)
}

fn finish_task(env: &TaskEnv<'_>) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let started = Instant::now();
    let writers = write_stages(config, &plan.state().dir)?;
    // One file's records and one scan task's decisions at a time; under a budget the ids
    // go to hash partitions of at most a quarter of it each (ids are within the records).
    let ids = match plan.mem_budget()? {
        None => DuplicateIds::memory(),
        Some(m) => {
            let records: u64 = (0..plan.inputs.len())
                .map(|i| std::fs::metadata(plan.scan_path(i)).map_or(0, |m| m.len()))
                .sum();
            let parts = usize::try_from(records.div_ceil((m / 4).max(1))).unwrap_or(usize::MAX);
            DuplicateIds::spilled(&plan.dir().join("finish-ids"), parts)?
        }
    };
    let id_partitions = ids.partitions();
    let mut tally = Tally::new(ids);
    for (i, input) in plan.inputs.iter().enumerate() {
        tally.add_scan(input, &load_scan(plan, i)?)?;
    }
    let mut stats = Vec::with_capacity(plan.inputs.len());
    for k in 0..plan.tasks() {
        let decisions = load_decisions(plan, k)?;
        for j in 0..decisions.files() {
            tally.add_decisions(decisions.file(j).iter());
        }
        let task = format!("write-{k:05}");
        let path = plan.write_path(k);
        let bytes = read_or_unmark(plan, &path, &task)?;
        let part: WriteParts = decoded(
            plan,
            &path,
            &task,
            serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        )?;
        stats.extend(part);
    }
    let mut parts = load_parts(plan, &plan.decide_path(), "decide")?;
    if plan.bands > 0 {
        let near = load_parts(plan, &plan.cluster_path(), "cluster")?;
        parts.sections.extend(near.sections);
        parts.summaries.extend(near.summaries);
        parts.timings.extend(near.timings);
    }
    let input_docs: u64 = tally.inputs.iter().map(|i| i.docs).sum();
    let input_bytes: u64 = tally.inputs.iter().map(|i| i.bytes).sum();
    // Each stage's tasks, summed seconds and largest peak RSS; the report's decide phase
    // is every stage between scan and write (exact, decide, band, cluster).
    let mut exec = serde_json::Map::new();
    let mut seconds = std::collections::HashMap::new();
    for (stage, ids) in plan.stages() {
        if stage == "init" || stage == "finish" {
            continue;
        }
        let m = stage_marks(plan, &ids)?;
        let mut entry = serde_json::json!({
            "tasks": ids.len(),
            "seconds": m.seconds,
            "cpu_seconds": m.cpu_seconds,
            "peak_rss_bytes": m.peak_rss,
            "spill_runs": m.spill_runs,
        });
        if stage == "decide" && parts.select_passes > 0 {
            entry["select_passes"] = parts.select_passes.into();
        }
        if stage == "band" {
            entry["set_passes"] = m.set_passes.into();
        }
        exec.insert(stage.to_string(), entry);
        seconds.insert(stage, m.seconds);
    }
    // finish (this task, still running: no marker yet) and where it checked the ids
    // (0: in memory; else spilled hash partitions).
    exec.insert(
        "finish".into(),
        serde_json::json!({"tasks": 1, "id_partitions": id_partitions}),
    );
    let timing = |stages: &[&str]| {
        let secs = stages.iter().filter_map(|s| seconds.get(s)).sum();
        StageTiming::new(secs, input_docs, input_bytes)
    };
    let timings = Timings {
        scan: timing(&["scan"]),
        decide: timing(&["exact", "decide", "band", "cluster"]),
        write: timing(&["write"]),
        stages: parts.timings.into_iter().collect(),
        total_seconds: 0.0,
    };
    let mut report = crate::pipeline::build_report(crate::pipeline::BuildReport {
        config,
        tally,
        stats: &stats,
        sections: parts.sections,
        summaries: parts.summaries,
        timings,
        threads: env.pool.current_num_threads(),
        resumed_scans: 0,
        resumed_writes: 0,
    })?;
    report
        .sections
        .insert("exec".into(), serde_json::Value::Object(exec));
    crate::pipeline::finish_job(
        config,
        &plan.output,
        env.pool,
        &writers,
        &stats,
        input_docs,
        env.opts,
        started,
        &mut report,
    )
}

/// What any task process holds before its work: the binary, the thread pool, the
/// allocator's arenas (measured: an `init` task's peak RSS).
const PROCESS_BASE: u64 = 9 << 20;

/// One zstd stream at the default level: about 3.7 MiB to compress, 2.5 to decompress.
const ZSTD_STREAM: u64 = 4 << 20;

/// Estimated peak memory per task of each stage (bytes). From the scan intermediates'
/// sizes once they exist, else from the input size at an assumed 1 KiB per document;
/// the candidate links from the band outputs once they exist, else a guess of one link
/// per four documents per band.
pub fn estimate(plan: &JobPlan, config: &Config) -> Vec<(&'static str, u64)> {
    // Scan records without sketches (the scan moves them to band files).
    let per_doc_guess = 72;
    let records = |file: usize| -> u64 {
        std::fs::metadata(plan.scan_path(file)).map_or_else(
            |_| plan.inputs[file].size.div_ceil(1024) * per_doc_guess,
            |m| m.len(),
        )
    };
    let file_docs = |file: usize| plan.inputs[file].size.div_ceil(1024);
    let docs: u64 = (0..plan.inputs.len()).map(file_docs).sum();
    let all: u64 = (0..plan.inputs.len()).map(records).sum();
    let largest_file = (0..plan.inputs.len()).map(records).max().unwrap_or(0);
    let largest_file_docs = (0..plan.inputs.len()).map(file_docs).max().unwrap_or(0);
    let largest_docs = plan
        .groups
        .iter()
        .map(|g| g.clone().map(file_docs).sum::<u64>())
        .max()
        .unwrap_or(0);
    let budget = plan.mem_per_task;
    let under = |need: u64, share: u64| budget.map_or(need, |m| need.min(m / share));
    // A batch's line bytes, held about three times (lines, records or output, buffers).
    let batch = 3 * scan::batch_bytes(budget) as u64;
    let tokenizer = if config.tokenize.enabled { 64 << 20 } else { 0 };
    // A document's shingle set as a set file holds it.
    let set = if !config.minhash.enabled {
        0
    } else if config.minhash.verify {
        2048
    } else if config.minhash.sample_check {
        4 * config.minhash.sample_size as u64
    } else {
        0
    };
    // The scan writes each band's entries and the sets as it goes (a 64 KiB buffer each).
    let sketch = if config.minhash.enabled {
        (plan.bands as u64 + 1) * (64 << 10)
    } else {
        0
    };
    let base = PROCESS_BASE;
    let mut est = vec![
        ("init", base),
        // The input file's decoder.
        ("scan", base + largest_file + batch + sketch + ZSTD_STREAM),
    ];
    if plan.exact {
        // A partition's keys in the first-wins index (key, position, size, map slack),
        // and one file's entries.
        let p = plan.exact_partitions() as u64;
        est.push((
            "exact",
            base + docs.div_ceil(p) * 64 + largest_file_docs * 40,
        ));
    }
    // Decide and finish read one file's records at a time (decoded: half again its size)
    // beside one scan task's decisions (~160 bytes a rejected document); decide holds the
    // exact duplicates' first ids and selection's ranking keys (24 bytes a document, at
    // most a quarter of the budget), finish the ids' duplicate check (in memory, or one
    // hash partition of at most a quarter of the budget).
    let streamed = largest_file + largest_file / 2 + 160 * largest_docs;
    let keys = if (crate::select::STAGE.enabled)(config) {
        under(24 * docs, 4) + (1 << 19)
    } else {
        0
    };
    est.push(("decide", base + streamed + keys + docs / 16 * 64));
    if plan.bands > 0 {
        let band_links = |b: usize| {
            std::fs::metadata(plan.band_path(b))
                .map_or(docs / 4, |m| m.len().saturating_sub(64) / 9)
        };
        let links: u64 = (0..plan.bands).map(band_links).sum();
        let most = (0..plan.bands).map(band_links).max().unwrap_or(0);
        // First the band entries (12 bytes a document, spilled past half the budget), one
        // scan task's decisions and one file's entries; then the links (9 bytes each) and
        // their documents' shingle sets, at most a quarter and a sixteenth of the budget
        // (see `near::check_links`), beside one file's set file.
        let entries = under(12 * docs, 2) + 8 * largest_docs + 12 * largest_file_docs;
        let sets = set * (2 * most).min(docs);
        let sets = budget.map_or(sets, |m| sets.min(m / 4 + m / 16));
        let check = 9 * most + sets + set * largest_file_docs;
        est.push(("band", base + entries.max(check)));
        // Links sorted under a quarter of the budget (12 bytes each in memory), one band
        // file (9 bytes a link), the union-find over linked documents (at most two per
        // link: 20 bytes each, and 16 bytes a removed document with its kept id), one
        // scan task's decisions and one file's records.
        let members = (2 * links).min(docs);
        est.push((
            "cluster",
            base + under(12 * links, 4) + 9 * most + 36 * members + 8 * largest_docs + largest_file,
        ));
    }
    est.push((
        "write",
        // The input's decoder, and the kept, attribute and rejected shards' encoders.
        base + largest_file + 8 * largest_docs + batch + 4 * ZSTD_STREAM + tokenizer,
    ));
    est.push(("finish", base + streamed + under(all, 4) + tokenizer));
    est
}
