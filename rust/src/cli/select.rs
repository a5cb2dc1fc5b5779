//! `cpt-curate select`: re-apply selection policies to a finished run's kept documents and
//! attribute files, without rescoring (`crate::select::reapply`).

use crate::select::reapply::{reapply, ReapplyOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Policies: SCORE:min=X | SCORE:max=X | SCORE:top=F | SCORE:bottom=F | \
GROUP:quota=A:F,B:F | GROUP:quota_bytes=A:F (GROUP: lang or source). Applied in order."
)]
pub struct SelectArgs {
    /// The run's attributes/ directory.
    #[arg(short, long)]
    pub attributes: PathBuf,
    /// The run's kept/ directory (default: kept/ beside the attributes).
    #[arg(long)]
    pub kept: Option<PathBuf>,
    /// A selection policy (repeatable, applied in order), e.g. domain_score:top=0.5.
    #[arg(short, long = "policy", required = true, value_name = "POLICY")]
    pub policies: Vec<String>,
    /// Output directory: kept/, attributes/, rejected/ and select_report.json.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Threads (0 = all cores); the output does not depend on it.
    #[arg(short = 'j', long, default_value_t = 0)]
    pub threads: usize,
    /// Replace a previous selection in the output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// zstd level of the output shards.
    #[arg(long, default_value_t = 3)]
    pub zstd_level: i32,
    /// No summary on stderr.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn execute(a: SelectArgs) -> crate::Result<()> {
    let r = reapply(&ReapplyOptions {
        attributes: a.attributes,
        kept: a.kept,
        policies: a.policies,
        output: a.output,
        threads: a.threads,
        overwrite: a.overwrite,
        zstd_level: a.zstd_level,
    })?;
    if !a.quiet {
        eprintln!(
            "cpt-curate select: {} docs -> kept {}, in {:.2}s (read {:.2}s, write {:.2}s)",
            r.input_docs, r.kept_docs, r.total_seconds, r.read_seconds, r.write_seconds
        );
        for p in &r.policies {
            eprintln!(
                "  {:<40} removed {:>8} of {:>8} docs{}",
                p.policy,
                p.removed_docs,
                p.candidates,
                p.detail
                    .as_ref()
                    .map_or(String::new(), |d| format!(" ({d})"))
            );
        }
    }
    Ok(())
}
