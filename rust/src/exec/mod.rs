//! A curation job split into tasks with files between them, so any scheduler can run it
//! (DESIGN.md section 5, "scales out"). The stages of the graph, each a list of tasks that
//! may run in parallel, every stage after the one before:
//!
//! 1. `init`: check or create the output directory and the job's identity;
//! 2. `scan-KKKKK`: one per contiguous group of input files (global input order), the
//!    pipeline's scan over each file, its records written per file;
//! 3. `exact-PPPPP`, one per key-prefix partition (when exact dedup is on, [`exact`]):
//!    the first document of each key in input order kept, the copies listed;
//! 4. `decide`: the decide stages but near-dup (exact dedup, selection) over every scan
//!    record (without sketches: the scan moved them to band files), writing one decision
//!    file per scan task;
//! 5. `band-BBBBB`, one per LSH band, then `cluster` (when near-dup is on, [`near`]): the
//!    near-dup stage partitioned by band, its candidate links unioned by the cluster task,
//!    which writes each scan task's final decisions;
//! 6. `write-KKKKK`: one per scan task, the pipeline's write over its files;
//! 7. `finish`: the write stages' job-level part (token shards) and `report.json`.
//!
//! Each task writes its outputs atomically inside a [`frame`] (job hash, task id,
//! checksum), then its completion marker; an executor runs only the tasks without one,
//! and a task relaunched alone redoes its own work. Outputs equal a one-process
//! `cpt-curate run` byte for byte, for any task count (`tests/exec_tasks.rs`).

pub mod codec;
pub mod decide;
pub mod exact;
pub mod frame;
pub mod local;
pub mod near;
pub mod tasks;

use crate::config::Config;
use crate::input::InputFile;
use crate::io::{read_all, write_atomic};
use crate::pipeline::state::{JobIdentity, StateDir};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of `.state/exec/plan.json` and the markers.
const PLAN_FORMAT: u32 = 1;

/// The task graph of a job: which input files each scan / write task owns.
#[derive(Debug, Clone)]
pub struct JobPlan {
    pub output: PathBuf,
    pub inputs: Vec<InputFile>,
    /// Input file range of each scan (and write) task.
    pub groups: Vec<std::ops::Range<usize>>,
    /// Hash of the job identity (config hash and inputs): in every intermediate and marker.
    pub job: String,
    pub identity: JobIdentity,
    /// Near-dup band tasks (0 when near-dup is off).
    pub bands: usize,
    /// Whether exact dedup runs (in as many key-prefix partitions as scan tasks).
    pub exact: bool,
    /// `--mem-per-task` as given to this process (tasks read the job's from `plan.json`).
    pub mem_per_task: Option<u64>,
}

/// What `.state/exec/plan.json` records, so a relaunch with other task counts is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PlanFile {
    format: u32,
    job: String,
    tasks: usize,
    /// The job's `--mem-per-task` (bytes): the budget each task spills under.
    #[serde(default)]
    mem_per_task: Option<u64>,
}

/// A task's completion marker (`.state/exec/done/<task>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    pub job: String,
    pub task: String,
    pub seconds: f64,
    /// Peak resident memory of the process that ran the task, when it ended (bytes; the
    /// whole process's for the local executor, which runs every task in one process).
    pub peak_rss: u64,
    /// CPU seconds (user + system, every thread) of the task: from the process's start
    /// when it is the first task the process runs (an executor's one-task process),
    /// else the difference around the task (the local executor's later tasks).
    #[serde(default)]
    pub cpu_seconds: f64,
    /// Sorted runs the task spilled to disk under its budget (band tables, cluster links).
    #[serde(default)]
    pub spill_runs: u64,
    /// A band task's passes over the shingle-set files to check its links: one, plus one
    /// per chunk of sets beyond the first when they exceed a quarter of the budget.
    #[serde(default)]
    pub set_passes: u64,
}

/// What a task's marker records about its run.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskFacts {
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub spill_runs: u64,
    pub set_passes: u64,
}

/// The CPU clock of one task (see [`Marker::cpu_seconds`]).
pub struct TaskCpu(f64);

/// Whether this process has started a task before (the first counts from process start).
static TASK_STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl TaskCpu {
    pub fn start() -> TaskCpu {
        let first = !TASK_STARTED.swap(true, std::sync::atomic::Ordering::Relaxed);
        TaskCpu(if first { 0.0 } else { process_cpu_seconds() })
    }
    pub fn seconds(&self) -> f64 {
        (process_cpu_seconds() - self.0).max(0.0)
    }
}

/// Under a budget, have glibc's malloc give every large buffer (1 MiB and up) back to the
/// system when it is freed. By default it raises its mmap threshold after the first such
/// free and serves later big buffers from the heap, which then holds the peak of them all:
/// a band task reading 16 MB set files one after another reached 81 MiB of RSS instead of
/// 50 (its live heap peaked at 41).
pub fn return_large_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// User + system CPU seconds of this process so far, all threads (`getrusage`).
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes the struct
    // it is given.
    let (u, rc) = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        let rc = libc::getrusage(libc::RUSAGE_SELF, &raw mut u);
        (u, rc)
    };
    if rc != 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

impl JobPlan {
    /// Plan `tasks` scan / write tasks over the job's inputs (resolved, no data read).
    pub fn new(config: &Config, tasks: usize) -> Result<JobPlan> {
        let plan = crate::pipeline::plan(config)?;
        let n = plan.inputs.len();
        if tasks == 0 {
            return Err(Error::Config("--tasks must be at least 1".into()));
        }
        if tasks > n {
            return Err(Error::Config(format!(
                "--tasks {tasks} is more than the {n} input file(s): a scan task owns whole files \
                 (split the input into more files, or use --tasks {n})"
            )));
        }
        let groups = (0..tasks)
            .map(|k| k * n / tasks..(k + 1) * n / tasks)
            .collect();
        let identity = JobIdentity::new(config.output_hash(), &plan.inputs);
        let json = serde_json::to_vec(&identity).expect("identity serializes");
        let job = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&json));
        let bands = if config.minhash.enabled {
            crate::dedup::NearDup::new(&config.minhash)?.bands()
        } else {
            0
        };
        Ok(JobPlan {
            output: plan.output,
            inputs: plan.inputs,
            groups,
            job,
            identity,
            bands,
            exact: config.exact_dedup.enabled,
            mem_per_task: None,
        })
    }

    pub fn tasks(&self) -> usize {
        self.groups.len()
    }

    /// Exact-dedup partitions (by key prefix): one per scan task, 0 when it is off.
    pub fn exact_partitions(&self) -> usize {
        if self.exact {
            self.tasks()
        } else {
            0
        }
    }

    /// The stages of the graph, in order; the tasks of one stage are independent.
    pub fn stages(&self) -> Vec<(&'static str, Vec<String>)> {
        let per = |kind: &str, n: usize| (0..n).map(|k| format!("{kind}-{k:05}")).collect();
        let one = |id: &str| vec![id.to_string()];
        let mut stages = vec![("init", one("init")), ("scan", per("scan", self.tasks()))];
        if self.exact {
            stages.push(("exact", per("exact", self.exact_partitions())));
        }
        stages.push(("decide", one("decide")));
        if self.bands > 0 {
            stages.push(("band", per("band", self.bands)));
            stages.push(("cluster", one("cluster")));
        }
        stages.push(("write", per("write", self.tasks())));
        stages.push(("finish", one("finish")));
        stages
    }

    pub fn state(&self) -> StateDir {
        StateDir::new(&self.output)
    }
    pub fn dir(&self) -> PathBuf {
        self.state().dir.join("exec")
    }
    fn plan_file(&self) -> PathBuf {
        self.dir().join("plan.json")
    }
    pub fn marker_path(&self, task: &str) -> PathBuf {
        self.dir().join("done").join(format!("{task}.json"))
    }
    /// The scan records of input file `file`.
    pub fn scan_path(&self, file: usize) -> PathBuf {
        self.dir().join(format!("scan-{file:05}.bin"))
    }
    /// The final decisions of scan task `k`'s files (decide's, or cluster's with near-dup).
    pub fn decisions_path(&self, k: usize) -> PathBuf {
        self.dir().join(format!("decisions-{k:05}.bin"))
    }
    /// The task that writes the final decisions.
    pub fn decisions_task(&self) -> &'static str {
        if self.bands > 0 {
            "cluster"
        } else {
            "decide"
        }
    }
    /// Scan task `k`'s decisions before near-dup (the decide task's, with near-dup on).
    pub fn pre_path(&self, k: usize) -> PathBuf {
        self.dir().join(format!("pre-{k:05}.bin"))
    }
    /// Input file `file`'s (record, key, id) entries of exact-dedup partition `p`.
    pub fn key_entries_path(&self, p: usize, file: usize) -> PathBuf {
        self.dir()
            .join(format!("keys-{p:05}"))
            .join(format!("{file:05}.bin"))
    }
    /// Exact task `p`'s duplicates.
    pub fn exact_path(&self, p: usize) -> PathBuf {
        self.dir().join(format!("exact-{p:05}.bin"))
    }
    /// Input file `file`'s (record, hash) entries of band `band`.
    pub fn band_entries_path(&self, band: usize, file: usize) -> PathBuf {
        self.dir()
            .join(format!("bands-{band:05}"))
            .join(format!("{file:05}.bin"))
    }
    /// Input file `file`'s shingle sets (when near-dup candidates are checked).
    pub fn sets_path(&self, file: usize) -> PathBuf {
        self.dir().join(format!("sets-{file:05}.bin"))
    }
    /// Band task `band`'s checked candidate links.
    pub fn band_path(&self, band: usize) -> PathBuf {
        self.dir().join(format!("band-{band:05}.bin"))
    }
    /// The cluster task's report part.
    pub fn cluster_path(&self) -> PathBuf {
        self.dir().join("cluster.bin")
    }
    pub fn decide_path(&self) -> PathBuf {
        self.dir().join("decide.bin")
    }
    pub fn write_path(&self, k: usize) -> PathBuf {
        self.dir().join(format!("write-{k:05}.bin"))
    }

    /// The scan task that owns input file `file`.
    pub fn owner(&self, file: usize) -> usize {
        self.groups
            .iter()
            .position(|g| g.contains(&file))
            .expect("every file has a task")
    }

    /// The task's marker, when it completed for this job.
    pub fn done(&self, task: &str) -> Result<Option<Marker>> {
        let path = self.marker_path(task);
        if !path.exists() {
            return Ok(None);
        }
        let m: Marker = serde_json::from_slice(&read_all(&path)?).map_err(|e| Error::Corrupt {
            path: path.clone(),
            msg: format!("{e}; delete it to rerun task {task}"),
        })?;
        Ok((m.job == self.job).then_some(m))
    }

    pub fn mark_done(&self, task: &str, facts: TaskFacts) -> Result<()> {
        let m = Marker {
            job: self.job.clone(),
            task: task.to_string(),
            seconds: facts.seconds,
            peak_rss: peak_rss(),
            cpu_seconds: facts.cpu_seconds,
            spill_runs: facts.spill_runs,
            set_passes: facts.set_passes,
        };
        write_atomic(
            &self.marker_path(task),
            &serde_json::to_vec_pretty(&m).expect("marker serializes"),
        )
    }

    /// Forget that `task` completed (its output is unusable), so a relaunch reruns it.
    pub fn unmark(&self, task: &str) {
        let _ = std::fs::remove_file(self.marker_path(task));
    }

    /// The `init` task: prepare the output directory (as a one-process run does), then
    /// record the task count; a job started with another count is refused.
    pub fn init(&self, overwrite: bool) -> Result<()> {
        crate::pipeline::prepare_output(&self.output, &self.identity, overwrite)?;
        let mut want = PlanFile {
            format: PLAN_FORMAT,
            job: self.job.clone(),
            tasks: self.tasks(),
            mem_per_task: self.mem_per_task,
        };
        let path = self.plan_file();
        if path.exists() {
            let have: PlanFile =
                serde_json::from_slice(&read_all(&path)?).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    msg: format!("{e}; pass --overwrite to start over"),
                })?;
            if have.tasks != want.tasks {
                return Err(Error::Config(format!(
                    "{} holds a job started with --tasks {}; relaunch it with --tasks {} \
                     (the task count cannot change mid-job), or pass --overwrite to start over",
                    self.output.display(),
                    have.tasks,
                    have.tasks
                )));
            }
            // An init without --mem-per-task (an executor's own) keeps the job's budget.
            want.mem_per_task = want.mem_per_task.or(have.mem_per_task);
            if have == want {
                return Ok(());
            }
        }
        std::fs::create_dir_all(self.dir().join("done"))
            .map_err(|e| Error::io(self.dir().join("done"), e))?;
        write_atomic(
            &path,
            &serde_json::to_vec_pretty(&want).expect("plan serializes"),
        )
    }

    /// The job's memory budget per task: this process's `--mem-per-task`, else the one
    /// `init` recorded.
    pub fn mem_budget(&self) -> Result<Option<u64>> {
        if self.mem_per_task.is_some() {
            return Ok(self.mem_per_task);
        }
        let path = self.plan_file();
        let have: PlanFile =
            serde_json::from_slice(&read_all(&path)?).map_err(|e| Error::Corrupt {
                path: path.clone(),
                msg: format!("{e}; relaunch task init"),
            })?;
        Ok(have.mem_per_task)
    }

    /// Every task but `init` checks that `init` ran for this job and task count.
    pub fn check_init(&self) -> Result<()> {
        let path = self.plan_file();
        let bad = |why: &str| {
            Error::Config(format!(
                "{}: {why}; run `cpt-curate task init` (or `cpt-curate run --tasks N`) first",
                path.display()
            ))
        };
        if !path.exists() {
            return Err(bad("the job was not initialised"));
        }
        let have: PlanFile =
            serde_json::from_slice(&read_all(&path)?).map_err(|e| bad(&e.to_string()))?;
        if have.job != self.job {
            return Err(bad(&format!(
                "it belongs to another job (hash {} vs {})",
                have.job, self.job
            )));
        }
        if have.tasks != self.tasks() {
            return Err(bad(&format!(
                "the job was started with --tasks {}, not {}",
                have.tasks,
                self.tasks()
            )));
        }
        Ok(())
    }

    /// `--dry-run` of a task run: the graph, the tasks per stage, and memory estimates.
    pub fn describe(&self, config: &Config, mem_per_task: Option<u64>) -> String {
        let est = tasks::estimate(self, config);
        let mut s = format!(
            "task graph (job {}, {} scan/write task(s) over {} input file(s)):\n",
            self.job,
            self.tasks(),
            self.inputs.len()
        );
        for (stage, ids) in self.stages() {
            let mem = est.iter().find(|e| e.0 == stage).map_or(0, |e| e.1);
            let first = ids.first().map_or("", String::as_str);
            let last = ids.last().map_or("", String::as_str);
            let range = if ids.len() > 1 {
                format!("{first} .. {last}")
            } else {
                first.to_string()
            };
            s.push_str(&format!(
                "  {stage:<7} {:>5} task(s)  [{range}]  est. memory per task {:.1} MiB{}\n",
                ids.len(),
                mem as f64 / f64::from(1 << 20),
                match mem_per_task {
                    Some(b) if mem > b => "  (over --mem-per-task)",
                    _ => "",
                }
            ));
        }
        s.push_str("  each stage starts when every task of the one before has its marker\n");
        s.push_str(&format!(
            "  intermediates and markers: {}\n",
            self.dir().display()
        ));
        s
    }
}

/// Peak resident set of this process (`VmHWM`), 0 where /proc is missing.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Parse a byte size such as `1G`, `512MiB` or `1000000`.
pub fn parse_bytes(s: &str) -> Result<u64> {
    crate::dedup::ByteSize::parse(s)
        .map(|b| b.0)
        .map_err(|e| Error::Config(format!("--mem-per-task {s:?}: {e}")))
}

/// Whether `path` is where task outputs live (for tests and tools).
pub fn exec_dir(output: &Path) -> PathBuf {
    StateDir::new(output).dir.join("exec")
}
