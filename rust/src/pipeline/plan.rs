//! `--dry-run`: what a job would do, generated from the registered stages
//! (`crate::stage::STAGES`): each enabled stage's phase, plan line and resume unit.

use crate::config::Config;
use crate::input::{expand_with, ExpandOptions, InputFile};
use crate::stage::{Phase, STAGES};
use crate::Result;
use std::path::PathBuf;

/// One enabled stage in the plan.
pub struct PlannedStage {
    pub name: &'static str,
    pub phase: Phase,
    /// What it will do under this config (the stage's plan line).
    pub plan: String,
    pub resume: &'static str,
}

/// What a job would do: for `--dry-run`.
pub struct Plan {
    pub inputs: Vec<InputFile>,
    /// The enabled stages, in pipeline order.
    pub stages: Vec<PlannedStage>,
    /// Token shard directory when the tokenize stage is on.
    pub tokenize: Option<PathBuf>,
    pub output: PathBuf,
}

impl Plan {
    pub fn describe(&self) -> String {
        let total: u64 = self.inputs.iter().map(|f| f.size).sum();
        let mut s = format!(
            "plan:\n  inputs: {} files, {:.1} MB on disk\n",
            self.inputs.len(),
            total as f64 / 1e6
        );
        for (i, f) in self.inputs.iter().enumerate() {
            s.push_str(&format!(
                "    [{i:05}] {} ({} bytes)\n",
                f.path.display(),
                f.size
            ));
        }
        let names: Vec<&str> = self.stages.iter().map(|st| st.name).collect();
        s.push_str(&format!(
            "  stages: read -> {} -> write\n",
            names.join(" -> ")
        ));
        for st in &self.stages {
            let phase = format!("{:?}", st.phase).to_lowercase();
            s.push_str(&format!(
                "    [{phase}] {}: {}\n      resume: {}\n",
                st.name, st.plan, st.resume
            ));
        }
        let o = self.output.display();
        s.push_str(&format!(
            "  outputs:\n    {o}/kept/part-FFFFF-PPPP.jsonl.zst\n    {o}/rejected/part-FFFFF-PPPP.jsonl.zst\n    {o}/report.json\n    {o}/.state/ (resume state)\n"
        ));
        if let Some(t) = &self.tokenize {
            let t = t.display();
            s.push_str(&format!(
                "    {t}/shard-NNNNN.cpts\n    {t}/manifest.json\n    {t}/tokenize_report.json\n"
            ));
        }
        s
    }
}

/// Resolve inputs and stages without touching any data; a stage that cannot run under
/// this config (e.g. a missing tokenizer file) fails here, before any work.
pub fn plan(config: &Config) -> Result<Plan> {
    config.require_job()?;
    let output = PathBuf::from(&config.output);
    let inputs = expand_with(
        &config.inputs,
        ExpandOptions {
            output: Some(&output),
            follow_symlinks: config.follow_symlinks,
        },
    )?;
    let mut stages = Vec::new();
    for spec in STAGES.iter().filter(|s| (s.enabled)(config)) {
        stages.push(PlannedStage {
            name: spec.name,
            phase: spec.phase,
            plan: (spec.plan)(config)?,
            resume: spec.resume,
        });
    }
    let tokenize = config
        .tokenize
        .enabled
        .then(|| config.tokenize.output_dir(&output));
    Ok(Plan {
        inputs,
        stages,
        tokenize,
        output,
    })
}
