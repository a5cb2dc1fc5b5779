//! `cpt-curate run`: resolve the config (YAML file, then flags, then `--set`), then
//! print the plan (`--dry-run`) or run the job.

use crate::config::{keys_help, Config};
use crate::pipeline::{self, RunOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Default)]
#[command(after_long_help = keys_help(), after_help = "Every config key can be set with --set key.sub=value (see --help for the list).")]
pub struct RunArgs {
    /// YAML config file (every key optional; see the list below).
    #[arg(short, long)]
    pub config: Option<PathBuf>,
    /// Input file, directory or glob (repeatable; replaces the config's `inputs`).
    #[arg(short, long = "input", value_name = "PATH")]
    pub inputs: Vec<String>,
    /// Output directory (config key `output`).
    #[arg(short, long)]
    pub output: Option<String>,
    /// Worker threads, 0 = all cores (config key `threads`).
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Count malformed lines and route them to the rejected output (config key `lenient`).
    #[arg(long)]
    pub lenient: bool,
    /// Follow symlinks to directories inside input directories (config key `follow_symlinks`).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Override any config key: `--set filters.length.min_words=100` (repeatable; value parsed as YAML).
    #[arg(short = 's', long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Delete the output directory's previous job (outputs and state) instead of resuming.
    #[arg(long)]
    pub overwrite: bool,
    /// Print the resolved config (YAML) and the plan, and touch no data.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar and no summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub exec: super::task::ExecArgs,
}

impl RunArgs {
    /// The config these arguments describe: file, then named flags, then `--set`.
    pub fn resolve(&self) -> crate::Result<Config> {
        let mut sets = Vec::new();
        if !self.inputs.is_empty() {
            let list = serde_json::to_string(&self.inputs).expect("strings serialize");
            sets.push(format!("inputs={list}"));
        }
        if let Some(o) = &self.output {
            sets.push(format!(
                "output={}",
                serde_json::to_string(o).expect("string serializes")
            ));
        }
        if let Some(t) = self.threads {
            sets.push(format!("threads={t}"));
        }
        if self.lenient {
            sets.push("lenient=true".into());
        }
        if self.follow_symlinks {
            sets.push("follow_symlinks=true".into());
        }
        sets.extend(self.sets.iter().cloned());
        Config::resolve(self.config.as_deref(), None, &sets)
    }
}

pub fn execute(args: RunArgs) -> crate::Result<()> {
    let config = args.resolve()?;
    if args.exec.is_task_run() {
        return super::task::run_job(&args, &config);
    }
    if args.dry_run {
        print!("{}", dry_run_text(&config)?);
        return Ok(());
    }
    pipeline::run(
        &config,
        &RunOptions {
            overwrite: args.overwrite,
            quiet: args.quiet,
        },
    )?;
    Ok(())
}

/// What `--dry-run` prints (and `cpt.curate.plan` returns): the resolved config as YAML
/// under its hash, then the plan.
pub fn dry_run_text(config: &Config) -> crate::Result<String> {
    let plan = pipeline::plan(config)?;
    Ok(format!(
        "# resolved config (hash {})\n{}{}",
        config.output_hash(),
        config.to_yaml(),
        plan.describe()
    ))
}
