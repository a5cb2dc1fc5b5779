//! Task runs: `cpt-curate run --executor local|ray|slurm --tasks N` runs a job as the task
//! graph of `crate::exec`, and `cpt-curate task ... ID` runs one task of it (what the Ray
//! and Slurm executors of `cpt.exec` call on their workers).

use super::run::{dry_run_text, RunArgs};
use crate::config::Config;
use crate::exec::{self, tasks, JobPlan};
use crate::pipeline::RunOptions;
use crate::{Error, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Executor {
    /// Every task in this process (rayon).
    Local,
    /// Ray tasks (`python -m cpt.exec ray`; needs `pip install cpt[scale]`).
    Ray,
    /// Slurm job arrays through submitit (`python -m cpt.exec slurm`).
    Slurm,
    /// The Slurm path's job arrays as local processes (submitit's local executor): no cluster.
    SubmititLocal,
}

impl Executor {
    fn name(self) -> &'static str {
        match self {
            Executor::Local => "local",
            Executor::Ray => "ray",
            Executor::Slurm => "slurm",
            Executor::SubmititLocal => "submitit-local",
        }
    }
}

/// How a job is split into tasks and where they run.
#[derive(Args, Debug, Default, Clone)]
pub struct ExecArgs {
    /// Run the job as tasks on this executor (default local when --tasks is given).
    #[arg(long, value_enum)]
    pub executor: Option<Executor>,
    /// Scan / write tasks, each owning a contiguous group of input files (default 1).
    /// A job keeps its task count: a relaunch with another is refused.
    #[arg(long)]
    pub tasks: Option<usize>,
    /// Memory budget per task (e.g. 1G): --dry-run flags the stages whose estimate is over
    /// it, Slurm requests it per array task.
    #[arg(long, value_name = "BYTES")]
    pub mem_per_task: Option<String>,
    /// YAML settings of the ray or slurm executor (see `python -m cpt.exec --help`).
    #[arg(long, value_name = "FILE")]
    pub executor_config: Option<PathBuf>,
}

impl ExecArgs {
    pub fn is_task_run(&self) -> bool {
        self.executor.is_some() || self.tasks.is_some()
    }
    fn plan(&self, config: &Config) -> Result<JobPlan> {
        let mut plan = JobPlan::new(config, self.tasks.unwrap_or(1))?;
        plan.mem_per_task = self.mem()?;
        Ok(plan)
    }
    fn mem(&self) -> Result<Option<u64>> {
        self.mem_per_task
            .as_deref()
            .map(exec::parse_bytes)
            .transpose()
    }
}

/// `cpt-curate run` with `--executor` or `--tasks`.
pub fn run_job(args: &RunArgs, config: &Config) -> Result<()> {
    let plan = args.exec.plan(config)?;
    let mem = args.exec.mem()?;
    if args.dry_run {
        print!("{}{}", dry_run_text(config)?, plan.describe(config, mem));
        return Ok(());
    }
    let opts = RunOptions {
        overwrite: args.overwrite,
        quiet: args.quiet,
    };
    let executor = args.exec.executor.unwrap_or(Executor::Local);
    if executor == Executor::Local {
        exec::local::run(config, &plan, &opts)?;
        return Ok(());
    }
    // Remote executors: init here, then hand the task graph to `cpt.exec` with the
    // resolved config, which every task reads.
    plan.init(args.overwrite)?;
    let job_yaml = plan.dir().join("job.yaml");
    crate::io::write_atomic(&job_yaml, config.to_yaml().as_bytes())?;
    let python = std::env::var("CPT_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut cmd = std::process::Command::new(&python);
    cmd.args(["-m", "cpt.exec", executor.name(), "--config"])
        .arg(&job_yaml)
        .args(["--tasks", &plan.tasks().to_string()]);
    if let Some(m) = &args.exec.mem_per_task {
        cmd.args(["--mem-per-task", m]);
    }
    if let Some(c) = &args.exec.executor_config {
        cmd.arg("--executor-config").arg(c);
    }
    if args.quiet {
        cmd.arg("--quiet");
    }
    let status = cmd.status().map_err(|e| {
        Error::Config(format!(
            "--executor {}: cannot start {python} -m cpt.exec ({e}); set CPT_PYTHON to the \
             Python that has cpt[scale] installed",
            executor.name()
        ))
    })?;
    if !status.success() {
        return Err(Error::Config(format!(
            "--executor {}: {python} -m cpt.exec failed ({status}); relaunch the same command \
             to run the tasks left",
            executor.name()
        )));
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct TaskArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The task: init, scan-KKKKK, decide, band-BBBBB, cluster, write-KKKKK or finish (see --list).
    pub id: Option<String>,
    /// Print the task graph as JSON (stages, task ids, which are done, memory estimates).
    #[arg(long)]
    pub list: bool,
}

pub fn execute(args: &TaskArgs) -> Result<()> {
    let config = args.run.resolve()?;
    let plan = args.run.exec.plan(&config)?;
    if args.list {
        let mut stages = Vec::new();
        for (name, ids) in plan.stages() {
            let mut list = Vec::new();
            for id in ids {
                let done = plan.done(&id)?.is_some();
                list.push(serde_json::json!({"id": id, "done": done}));
            }
            stages.push(serde_json::json!({"name": name, "tasks": list}));
        }
        let estimate: serde_json::Map<String, serde_json::Value> = tasks::estimate(&plan, &config)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        let out = serde_json::json!({
            "job": plan.job, "tasks": plan.tasks(), "stages": stages, "estimate_bytes": estimate,
        });
        println!("{out}");
        return Ok(());
    }
    let Some(id) = &args.id else {
        return Err(Error::Config(
            "name a task (init, scan-00000, decide, band-00000, cluster, write-00000, finish) or pass --list".into(),
        ));
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let opts = RunOptions {
        overwrite: args.run.overwrite,
        quiet: args.run.quiet,
    };
    tasks::run_task(
        &tasks::TaskEnv {
            config: &config,
            plan: &plan,
            opts: &opts,
            pool: &pool,
        },
        id,
    )
}
