//! The task bodies: each reads the intermediates of the stage before, runs the pipeline's
//! own phase code (`crate::pipeline::{scan, decide, write}`) on its part, writes its
//! intermediates (framed, atomic) and then its marker. No curation logic lives here.

use super::codec::{decode_decisions, encode_decisions, DecideParts, WriteParts};
use super::{frame, JobPlan};
use crate::config::Config;
use crate::dedup::NearDup;
use crate::pipeline::state::ScanFile;
use crate::pipeline::{decide, scan, write, RunOptions};
use crate::report::{StageTiming, Timings};
use crate::stage::decide::DecideEnv;
use crate::stage::{decide_stages, write_stages, Decision, ScanStages};
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
    if id == "init" {
        plan.init(env.opts.overwrite)?;
    } else {
        plan.check_init()?;
        match id.split_once('-') {
            None if id == "decide" => decide_task(env)?,
            None if id == "finish" => finish_task(env)?,
            Some((kind, k)) if kind == "scan" || kind == "write" => {
                let k: usize = k
                    .parse()
                    .ok()
                    .filter(|&k| k < plan.tasks())
                    .ok_or_else(|| unknown(plan, id))?;
                if kind == "scan" {
                    scan_task(env, k)?;
                } else {
                    write_task(env, k)?;
                }
            }
            _ => return Err(unknown(plan, id)),
        }
    }
    if std::env::var("CPT_TEST_ABORT_IN_TASK").is_ok_and(|t| t == id) {
        // Test hook: die after the task's work, before its marker (kill -9 tests).
        std::process::abort();
    }
    plan.mark_done(id, started.elapsed().as_secs_f64())
}

fn unknown(plan: &JobPlan, id: &str) -> Error {
    Error::Config(format!(
        "no task {id:?} in this job: tasks are init, scan-00000 .. scan-{last:05}, decide, \
         write-00000 .. write-{last:05}, finish",
        last = plan.tasks() - 1
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
    };
    let task = format!("scan-{k:05}");
    // One file's records in memory at a time: each goes to disk before the next is read.
    for i in plan.groups[k].clone() {
        let s = env.pool.install(|| scanner.scan(&plan.inputs[i], |_| {}))?;
        frame::write(&plan.scan_path(i), &plan.job, &task, &s.encode())?;
    }
    Ok(())
}

/// Read intermediate `path` of task `task`; when it is unusable, forget that `task`
/// completed (so a relaunched run redoes it) and say which task to relaunch.
fn read_or_unmark(plan: &JobPlan, path: &std::path::Path, task: &str) -> Result<Vec<u8>> {
    frame::read(path, &plan.job, task).inspect_err(|_| plan.unmark(task))
}

fn decoded<T>(
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
fn load_scan(plan: &JobPlan, file: usize) -> Result<ScanFile> {
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

fn load_all_scans(plan: &JobPlan) -> Result<Vec<ScanFile>> {
    (0..plan.inputs.len()).map(|i| load_scan(plan, i)).collect()
}

fn decide_task(env: &TaskEnv<'_>) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let deciders = decide_stages(config)?;
    let mut scans = load_all_scans(plan)?;
    let state = plan.state();
    let denv = DecideEnv {
        spill_dir: &state.dir,
        quiet: env.opts.quiet,
    };
    let decided = env
        .pool
        .install(|| decide::decide(&deciders, &mut scans, &denv))?;
    for (k, g) in plan.groups.iter().enumerate() {
        let files: Vec<&[Decision]> = decided.decisions[g.clone()]
            .iter()
            .map(Vec::as_slice)
            .collect();
        frame::write(
            &plan.decisions_path(k),
            &plan.job,
            "decide",
            &encode_decisions(&files),
        )?;
    }
    let parts = DecideParts {
        sections: decided
            .sections
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
        summaries: decided.summaries,
        timings: decided
            .timings
            .into_iter()
            .map(|(k, t)| (k.to_string(), t))
            .collect(),
    };
    let json = serde_json::to_vec(&parts).expect("decide parts serialize");
    frame::write(&plan.decide_path(), &plan.job, "decide", &json)
}

fn load_decisions(plan: &JobPlan, k: usize) -> Result<Vec<Vec<Decision>>> {
    let path = plan.decisions_path(k);
    let bytes = read_or_unmark(plan, &path, "decide")?;
    let d = decoded(plan, &path, "decide", decode_decisions(&bytes))?;
    if d.len() != plan.groups[k].len() {
        return decoded(plan, &path, "decide", Err("wrong number of files".into()));
    }
    Ok(d)
}

fn write_task(env: &TaskEnv<'_>, k: usize) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let state = plan.state();
    let writers = write_stages(config, &state.dir)?;
    let decisions = load_decisions(plan, k)?;
    let writer = write::FileWriter::for_output(config, &writers, &plan.output)?;
    let mut stats: WriteParts = Vec::new();
    for (j, i) in plan.groups[k].clone().enumerate() {
        let scan = load_scan(plan, i)?;
        let input = &plan.inputs[i];
        let s = env
            .pool
            .install(|| writer.write(i, input, &scan, &decisions[j], |_| {}))?;
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

/// Sum of the seconds and the largest peak RSS of a stage's task markers.
fn stage_marks(plan: &JobPlan, ids: &[String]) -> Result<(f64, u64)> {
    let mut secs = 0.0;
    let mut rss = 0;
    for id in ids {
        if let Some(m) = plan.done(id)? {
            secs += m.seconds;
            rss = rss.max(m.peak_rss);
        }
    }
    Ok((secs, rss))
}

fn finish_task(env: &TaskEnv<'_>) -> Result<()> {
    let (config, plan) = (env.config, env.plan);
    let started = Instant::now();
    let writers = write_stages(config, &plan.state().dir)?;
    let scans = load_all_scans(plan)?;
    let mut decisions = Vec::with_capacity(plan.inputs.len());
    let mut stats = Vec::with_capacity(plan.inputs.len());
    for k in 0..plan.tasks() {
        decisions.extend(load_decisions(plan, k)?);
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
    let bytes = read_or_unmark(plan, &plan.decide_path(), "decide")?;
    let parts: DecideParts = decoded(
        plan,
        &plan.decide_path(),
        "decide",
        serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
    )?;
    let input_docs: u64 = scans.iter().map(|s| s.records.len() as u64).sum();
    let input_bytes: u64 = scans.iter().flat_map(|s| &s.records).map(|r| r.bytes).sum();
    let mut exec = serde_json::Map::new();
    let mut timing = |stage: &str| -> Result<StageTiming> {
        let ids = plan
            .stages()
            .into_iter()
            .find(|s| s.0 == stage)
            .map(|s| s.1)
            .unwrap_or_default();
        let (secs, rss) = stage_marks(plan, &ids)?;
        exec.insert(
            stage.to_string(),
            serde_json::json!({"tasks": ids.len(), "seconds": secs, "peak_rss_bytes": rss}),
        );
        Ok(StageTiming::new(secs, input_docs, input_bytes))
    };
    let timings = Timings {
        scan: timing("scan")?,
        decide: timing("decide")?,
        write: timing("write")?,
        stages: parts.timings.into_iter().collect(),
        total_seconds: 0.0,
    };
    let mut report = crate::pipeline::build_report(crate::pipeline::BuildReport {
        config,
        inputs: &plan.inputs,
        scans: &scans,
        stats: &stats,
        decisions: &decisions,
        sections: parts.sections,
        summaries: parts.summaries,
        timings,
        threads: env.pool.current_num_threads(),
        resumed_scans: 0,
        resumed_writes: 0,
    })?;
    drop(scans);
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

/// Estimated peak memory per task of each stage (bytes). From the scan intermediates'
/// sizes once they exist, else from the input size at an assumed 1 KiB per document.
pub fn estimate(plan: &JobPlan, config: &Config) -> Vec<(&'static str, u64)> {
    let per_doc_guess = 72
        + if config.minhash.enabled {
            (config.minhash.num_perm * config.minhash.hash_bits as usize / 8) as u64
        } else {
            0
        };
    let records = |file: usize| -> u64 {
        std::fs::metadata(plan.scan_path(file)).map_or_else(
            |_| plan.inputs[file].size.div_ceil(1024) * per_doc_guess,
            |m| m.len(),
        )
    };
    let all: u64 = (0..plan.inputs.len()).map(records).sum();
    let largest = plan
        .groups
        .iter()
        .flat_map(|g| g.clone().map(records))
        .max()
        .unwrap_or(0);
    let batch = 2 * scan::BATCH_BYTES as u64;
    let tokenizer = if config.tokenize.enabled { 64 << 20 } else { 0 };
    vec![
        ("init", 1 << 20),
        ("scan", largest + batch),
        // Records plus band tables (bounded by minhash.mem_limit when set).
        ("decide", all + all / 2),
        ("write", largest + batch + (2 << 20) + tokenizer),
        ("finish", all + tokenizer),
    ]
}
