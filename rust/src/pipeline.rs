//! The curation job in three phases (DESIGN.md section 7), each running the registered
//! stages of its phase (`crate::stage::STAGES`), built for scale and resume:
//! 1. scan (per input file, in parallel): a compact record per document (the scan
//!    stages' verdict and attributes, the exact key, the near-dup sketch), saved to
//!    `.state/scan-NNNNN.bin`; a restarted job skips files already scanned;
//! 2. decide (global, over the scan records only): the decide stages in order (exact
//!    dedup, near-dup clustering, ...), parallel inside;
//! 3. write (per input file, in parallel): the write stages over the kept texts (PII
//!    redaction, tokenization), kept and rejected shards, the write stages' units, then a
//!    done marker; a restarted job redoes only unfinished files. Then each write stage's
//!    job-level part (the token shards, from the files' token ids in input order).
//!
//! Output depends only on inputs and config, never on thread count or interruption.

pub mod decide;
pub mod doc;
pub mod near;
mod plan;
pub mod scan;
pub mod state;
pub mod tally;
pub mod tokenize;
pub mod write;

pub use plan::{plan, Plan};

use crate::config::Config;
use crate::dedup::NearDup;
use crate::io::write_atomic;
use crate::report::{Pii, Report, StageTiming, Timings};
use crate::stage::decide::DecideEnv;
use crate::stage::{decide_stages, write_stages, ScanStages, WriteJob};
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use state::{Count, JobIdentity, ScanFile, StateDir, WriteStats};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tally::{DuplicateIds, Tally};

/// How to run a job (not part of the config: they do not change the output).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Delete a previous job's outputs and state instead of resuming or refusing.
    pub overwrite: bool,
    /// No progress bars and no summary on stderr.
    pub quiet: bool,
}

pub(crate) fn bar(quiet: bool, len: u64, msg: &'static str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>6} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(msg);
    pb
}

/// Make `output` ready: refuse a different job's state unless `overwrite`.
pub(crate) fn prepare_output(
    output: &Path,
    identity: &JobIdentity,
    overwrite: bool,
) -> Result<StateDir> {
    let state = StateDir::new(output);
    let ours = [
        "kept",
        "rejected",
        "attributes",
        ".state",
        "report.json",
        crate::input::expand::OUTPUT_MARKER,
    ];
    if overwrite {
        for name in ours {
            let p = output.join(name);
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| Error::io(&p, e))?;
            } else if p.exists() {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
    } else if state.job().exists() {
        let bytes = crate::io::read_all(&state.job())?;
        let previous: JobIdentity = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: state.job(),
            msg: format!("{e}; pass --overwrite to start over"),
        })?;
        if previous.format != identity.format {
            return Err(Error::Config(format!(
                "{} holds a job started by another version of cpt-curate (state format {} vs {}); \
                 pass --overwrite to start over",
                output.display(),
                previous.format,
                identity.format
            )));
        }
        if previous.config_hash != identity.config_hash {
            return Err(Error::Config(format!(
                "{} holds a job with a different config (hash {} vs {}); pass --overwrite to start over",
                output.display(),
                previous.config_hash,
                identity.config_hash
            )));
        }
        if previous.inputs != identity.inputs {
            // Name the first input that differs: an edit in place shows as a new fingerprint.
            let changed = previous
                .inputs
                .iter()
                .zip(&identity.inputs)
                .find(|(a, b)| a.0 == b.0 && a != b);
            return Err(Error::Config(match changed {
                Some((a, b)) => format!(
                    "{}: input changed since the interrupted job in {} (size {} -> {}, content \
                     fingerprint {} -> {}); it is not rescanned: pass --overwrite to start over",
                    a.0,
                    output.display(),
                    a.1,
                    b.1,
                    a.2,
                    b.2
                ),
                None => format!(
                    "{} holds a job with different inputs; pass --overwrite to start over",
                    output.display()
                ),
            }));
        }
    } else if ours.iter().any(|n| output.join(n).exists()) {
        return Err(Error::Config(format!(
            "{} holds outputs of an unknown job; pass --overwrite to replace them",
            output.display()
        )));
    }
    for dir in [
        output.join("kept"),
        output.join("rejected"),
        state.dir.clone(),
    ] {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    // The marker input expansion recognises: this directory is never read as input.
    write_atomic(
        &output.join(crate::input::expand::OUTPUT_MARKER),
        b"cpt-curate output\n",
    )?;
    write_atomic(
        &state.job(),
        &serde_json::to_vec_pretty(identity).expect("identity serializes"),
    )?;
    Ok(state)
}

/// Run `f` over the inputs in parallel; stop early after an error and return the
/// first error in input order, so failures are reported deterministically.
pub(crate) fn par_files<T: Send>(
    pool: &rayon::ThreadPool,
    n: usize,
    f: impl Fn(usize) -> Result<T> + Sync + Send,
) -> Result<Vec<T>> {
    let failed = AtomicBool::new(false);
    let results: Vec<Option<Result<T>>> = pool.install(|| {
        (0..n)
            .into_par_iter()
            .map(|i| {
                if failed.load(Ordering::Relaxed) {
                    return None;
                }
                let r = f(i);
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                Some(r)
            })
            .collect()
    });
    let mut out = Vec::with_capacity(n);
    let mut first_err = None;
    for r in results {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => {
                first_err.get_or_insert(e);
            }
            None => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Test hook: abort the process after this many files are written (resume tests).
fn abort_after_files() -> Option<usize> {
    std::env::var("CPT_TEST_ABORT_AFTER_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Run a curation job and return its report (also written to `<output>/report.json`).
pub fn run(config: &Config, opts: &RunOptions) -> Result<Report> {
    let started = Instant::now();
    let plan = plan(config)?;
    // Built (and its config checked) before any work: one per job, not per document.
    let near = if config.minhash.enabled {
        Some(NearDup::new(&config.minhash)?)
    } else {
        None
    };
    let inputs = plan.inputs;
    let output = plan.output;
    // Built (and their configs checked) before any work: a tokenizer that does not load
    // fails here.
    let deciders = decide_stages(config)?;
    let writers = write_stages(config, &StateDir::new(&output).dir)?;
    let stages = ScanStages::from_config(config)?;
    let identity = JobIdentity::new(config.output_hash(), &inputs);
    let state = prepare_output(&output, &identity, opts.overwrite)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("cpt-curate-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let threads = pool.current_num_threads();

    // Pass 1: scan.
    let t0 = Instant::now();
    let total_size: u64 = inputs.iter().map(|f| f.size).sum();
    let pb = bar(opts.quiet, total_size, "scan");
    let resumed_scans = AtomicUsize::new(0);
    let scanner = scan::Scanner {
        config,
        stages: &stages,
        near: near.as_ref(),
        batch_bytes: scan::BATCH_BYTES,
    };
    let mut scans: Vec<ScanFile> = par_files(&pool, inputs.len(), |i| {
        let input = &inputs[i];
        if let Some(s) = state.load_scan(i, input)? {
            resumed_scans.fetch_add(1, Ordering::Relaxed);
            pb.inc(input.size);
            return Ok(s);
        }
        let s = scanner.scan(input, |b| pb.inc(b))?;
        state.save_scan(i, &s)?;
        Ok(s)
    })?;
    pb.finish_and_clear();
    let scan_secs = t0.elapsed().as_secs_f64();
    let input_docs: u64 = scans.iter().map(|s| s.records.len() as u64).sum();
    let input_bytes: u64 = scans.iter().flat_map(|s| &s.records).map(|r| r.bytes).sum();

    // Decide.
    let t1 = Instant::now();
    let env = DecideEnv {
        spill_dir: &state.dir,
        quiet: opts.quiet,
    };
    let decided = pool.install(|| decide::decide(&deciders, &mut scans, &env))?;
    let decide_secs = t1.elapsed().as_secs_f64();

    // Pass 2: write.
    let t2 = Instant::now();
    let pb = bar(opts.quiet, input_bytes, "write");
    let writer = write::FileWriter::for_output(config, &writers, &output)?;
    let resumed_writes = AtomicUsize::new(0);
    let completed = AtomicUsize::new(0);
    let abort_after = abort_after_files();
    let stats: Vec<WriteStats> = par_files(&pool, inputs.len(), |i| {
        if let Some(s) = state.load_done(i)? {
            resumed_writes.fetch_add(1, Ordering::Relaxed);
            pb.inc(scans[i].records.iter().map(|r| r.bytes).sum());
            return Ok(s);
        }
        let s = writer.write(i, &inputs[i], &scans[i], &decided.decisions[i], |b| {
            pb.inc(b)
        })?;
        check_file(&inputs[i].path, &scans[i], &s)?;
        state.save_done(i, &s)?;
        let n = completed.fetch_add(1, Ordering::SeqCst) + 1;
        if abort_after.is_some_and(|a| n >= a) {
            std::process::abort();
        }
        Ok(s)
    })?;
    pb.finish_and_clear();
    let write_secs = t2.elapsed().as_secs_f64();

    let timings = Timings {
        scan: StageTiming::new(scan_secs, input_docs, input_bytes),
        decide: StageTiming::new(decide_secs, input_docs, input_bytes),
        write: StageTiming::new(write_secs, input_docs, input_bytes),
        stages: decided
            .timings
            .iter()
            .map(|(name, t)| ((*name).to_string(), t.clone()))
            .collect(),
        total_seconds: started.elapsed().as_secs_f64(),
    };
    let mut tally = Tally::new(DuplicateIds::memory());
    for (input, scan) in inputs.iter().zip(&scans) {
        tally.add_scan(input, scan)?;
    }
    tally.add_decisions(decided.decisions.iter().flatten());
    let mut report = build_report(BuildReport {
        config,
        tally,
        stats: &stats,
        sections: decided
            .sections
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
        summaries: decided.summaries.clone(),
        timings,
        threads,
        resumed_scans: resumed_scans.into_inner(),
        resumed_writes: resumed_writes.into_inner(),
    })?;
    finish_job(
        config,
        &output,
        &pool,
        &writers,
        &stats,
        input_docs,
        opts,
        started,
        &mut report,
    )?;
    Ok(report)
}

/// The job-level end, after every document is accounted for: each write stage's
/// job-level part (token shards), then `report.json` and the summary on stderr.
#[allow(clippy::too_many_arguments)]
pub(crate) fn finish_job(
    config: &Config,
    output: &Path,
    pool: &rayon::ThreadPool,
    writers: &[Box<dyn crate::stage::WriteStage>],
    stats: &[WriteStats],
    input_docs: u64,
    opts: &RunOptions,
    started: Instant,
    report: &mut Report,
) -> Result<()> {
    let threads = pool.current_num_threads();
    // The write stages' job-level parts: only after every document is accounted for.
    let kept_shards: Vec<Vec<String>> = stats
        .iter()
        .map(|s| s.kept_shards.iter().map(|n| format!("kept/{n}")).collect())
        .collect();
    let job = WriteJob {
        config,
        output,
        kept_shards: &kept_shards,
        input_docs,
        threads,
        quiet: opts.quiet,
        overwrite: opts.overwrite,
    };
    for stage in writers {
        let end = pool.install(|| stage.finish(&job))?;
        if let Some(end) = end {
            report.sections.insert(end.report.0.into(), end.report.1);
            report
                .timings
                .stages
                .insert(stage.name().into(), end.timing);
            report.stage_summaries.push(end.summary);
        }
    }
    report.timings.total_seconds = started.elapsed().as_secs_f64();
    let path = output.join("report.json");
    let mut json = serde_json::to_vec_pretty(&report).expect("report serializes");
    json.push(b'\n');
    if std::env::var_os("CPT_TEST_ABORT_IN_REPORT").is_some() {
        // Test hook: die half-way through the report's temp file (kill-and-resume tests).
        let tmp = crate::io::tmp_name(&path);
        std::fs::write(&tmp, &json[..json.len() / 2]).map_err(|e| Error::io(&tmp, e))?;
        std::process::abort();
    }
    write_atomic(&path, &json)?;
    if !opts.quiet {
        if report.duplicate_ids > 0 {
            eprintln!(
                "cpt-curate: warning: {} document(s) share an id with an earlier document (e.g. {:?}); \
                 ids are ambiguous in the outputs (report.json: duplicate_ids)",
                report.duplicate_ids,
                report.duplicate_id_examples.first().map_or("", String::as_str)
            );
        }
        eprintln!("{}", report.summary());
    }
    Ok(())
}

/// Every scanned document of a file was written exactly once.
pub(crate) fn check_file(path: &Path, scan: &ScanFile, s: &WriteStats) -> Result<()> {
    let written = s.kept.docs + s.rejected.values().map(|c| c.docs).sum::<u64>();
    if written != scan.records.len() as u64 {
        return Err(Error::Accounting(format!(
            "{}: {} documents scanned but {} written",
            path.display(),
            scan.records.len(),
            written
        )));
    }
    Ok(())
}

pub(crate) struct BuildReport<'a> {
    pub config: &'a Config,
    /// The scan records and decisions, counted.
    pub tally: Tally,
    pub stats: &'a [WriteStats],
    /// The decide stages' report sections and summary lines, in stage order.
    pub sections: Vec<(String, serde_json::Value)>,
    pub summaries: Vec<String>,
    pub timings: Timings,
    pub threads: usize,
    pub resumed_scans: usize,
    pub resumed_writes: usize,
}

pub(crate) fn build_report(b: BuildReport<'_>) -> Result<Report> {
    let mut kept = Count::default();
    let mut rejected = std::collections::BTreeMap::<String, Count>::new();
    let mut pii = Pii {
        counts: Default::default(),
        docs_with_pii: 0,
    };
    let (mut kept_shards, mut rejected_shards) = (Vec::new(), Vec::new());
    for s in b.stats {
        kept.docs += s.kept.docs;
        kept.bytes += s.kept.bytes;
        for (reason, c) in &s.rejected {
            let e = rejected.entry(reason.clone()).or_default();
            e.docs += c.docs;
            e.bytes += c.bytes;
        }
        pii.counts.add(&s.pii);
        pii.docs_with_pii += s.docs_with_pii;
        kept_shards.extend(s.kept_shards.iter().map(|n| format!("kept/{n}")));
        rejected_shards.extend(s.rejected_shards.iter().map(|n| format!("rejected/{n}")));
    }
    let inputs = b.tally.inputs;
    let input_docs: u64 = inputs.iter().map(|i| i.docs).sum();
    let input_bytes: u64 = inputs.iter().map(|i| i.bytes).sum();
    let (duplicate_ids, duplicate_id_examples) = b.tally.ids.finish()?;
    let rejected_docs: u64 = rejected.values().map(|c| c.docs).sum();
    let rejected_bytes: u64 = rejected.values().map(|c| c.bytes).sum();
    // The decide step's verdicts must match what pass 2 wrote, reason by reason.
    let (decided_kept, decided_rejected) = (b.tally.decided_kept, b.tally.decided_rejected);
    let written_rejected: std::collections::BTreeMap<String, u64> =
        rejected.iter().map(|(k, c)| (k.clone(), c.docs)).collect();
    if kept.docs + rejected_docs != input_docs
        || kept.bytes + rejected_bytes != input_bytes
        || decided_kept != kept.docs
        || decided_rejected != written_rejected
    {
        return Err(Error::Accounting(format!(
            "input {input_docs} docs / {input_bytes} bytes, kept {} / {}, rejected {rejected_docs} / {rejected_bytes}; \
             decided kept {decided_kept}, rejected {decided_rejected:?}, written rejected {written_rejected:?}",
            kept.docs, kept.bytes
        )));
    }
    Ok(Report {
        format: 1,
        input_docs,
        input_bytes,
        blank_lines: inputs.iter().map(|i| i.blank_lines).sum(),
        kept_docs: kept.docs,
        kept_bytes: kept.bytes,
        rejected_docs,
        rejected_bytes,
        malformed_docs: rejected.get("malformed").map_or(0, |c| c.docs),
        duplicate_ids,
        duplicate_id_examples,
        rejected,
        pii,
        sections: b.sections.into_iter().collect(),
        stage_summaries: b.summaries,
        timings: b.timings,
        stages: crate::stage::report(b.config),
        threads: b.threads,
        resumed_scans: b.resumed_scans,
        resumed_writes: b.resumed_writes,
        inputs,
        kept_shards,
        rejected_shards,
        config_hash: b.config.output_hash(),
        config: b.config.clone(),
    })
}
