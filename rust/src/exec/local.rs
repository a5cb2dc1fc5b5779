//! The local executor: every task of the graph in this process, stage by stage, the tasks
//! of a stage in parallel on the job's rayon pool. Tasks with a marker are skipped, so a
//! relaunch after a kill runs only what is left.

use super::tasks::{run_task, TaskEnv};
use super::JobPlan;
use crate::config::Config;
use crate::pipeline::{bar, par_files, RunOptions};
use crate::{Error, Result};

/// Run the job's tasks that have no marker; returns how many ran.
pub fn run(config: &Config, plan: &JobPlan, opts: &RunOptions) -> Result<usize> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .thread_name(|i| format!("cpt-task-{i}"))
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let env = TaskEnv {
        config,
        plan,
        opts,
        pool: &pool,
    };
    // `init` always runs: it is where a changed config or task count is refused.
    run_task(&env, "init")?;
    let quiet = RunOptions {
        quiet: true,
        ..opts.clone()
    };
    let inner = TaskEnv {
        opts: &quiet,
        ..env
    };
    let mut ran = 0;
    let stages = plan.stages();
    let total: usize = stages.iter().skip(1).map(|s| s.1.len()).sum();
    let pb = bar(opts.quiet, total as u64, "tasks");
    for (_, ids) in stages.iter().skip(1) {
        let todo: Vec<&String> = ids
            .iter()
            .filter(|id| !matches!(plan.done(id), Ok(Some(_))))
            .collect();
        pb.inc((ids.len() - todo.len()) as u64);
        // The finish task prints the summary unless the run is quiet.
        let env = if todo.len() == 1 && todo[0] == "finish" {
            &env
        } else {
            &inner
        };
        par_files(&pool, todo.len(), |i| {
            let r = run_task(env, todo[i]);
            pb.inc(1);
            r
        })?;
        ran += todo.len();
    }
    pb.finish_and_clear();
    Ok(ran)
}
