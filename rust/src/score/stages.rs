//! The scorer scan stages on the n-gram model: `perplexity` (per-document `ppl`, drop above
//! `max_ppl`, CCNet's head / middle / tail bucket as `ppl_bucket`) and `domain_relevance`
//! (Moore-Lewis `ml_score`, drop below `min_score`). Both read the shared analysis'
//! normalized text, the form the models were trained on.

use super::ngram::{shared, LmModel};
use crate::analysis::Analysis;
use crate::config::Config;
use crate::stage::{above, below, Attributes, Build, Phase, ScanStage, StageSpec, Verdict};
use crate::Result;
use std::path::Path;
use std::sync::Arc;

const RESUME: &str = "scan records (.state/scan-NNNNN.bin, one per input file)";

fn describe(m: &LmModel) -> String {
    format!(
        "{} (order {}, {}, {} words, {} n-grams)",
        m.path().display(),
        m.order(),
        m.smoothing().name(),
        m.vocab_size(),
        m.ngram_counts().iter().sum::<u64>()
    )
}

/// A model the config names (checked non-empty by the config's validation).
fn model_path<'a>(key: &str, v: Option<&'a String>) -> Result<&'a Path> {
    v.map(Path::new)
        .ok_or_else(|| crate::Error::Config(format!("{key}: no model given")))
}

/// Take a planned model for a stage. The job's plan has loaded and checked it just before
/// (`shared::load`), so this finds it; a file changed in between (or a stage built without
/// a plan) is loaded now, and a missing or corrupt file is an error naming the key and file.
fn take(key: &str, v: Option<&String>) -> Result<Arc<LmModel>> {
    shared::take(model_path(key, v)?).map_err(|e| crate::Error::Config(format!("{key}: {e}")))
}

pub const PERPLEXITY_STAGE: StageSpec = StageSpec {
    name: "score:perplexity",
    phase: Phase::Scan,
    section: "perplexity",
    keys: &[
        (
            "enabled",
            "score documents' n-gram perplexity (attribute ppl)",
        ),
        ("model", "the .cptlm model (cpt-curate lm train); required"),
        (
            "max_ppl",
            "drop documents above this perplexity; null = keep",
        ),
        (
            "buckets",
            "[head_max, middle_max]: attribute ppl_bucket 0/1/2",
        ),
    ],
    enabled: |c| c.perplexity.enabled,
    plan: |c| {
        let p = &c.perplexity;
        let m = shared::load(model_path("perplexity.model", p.model.as_ref())?)?;
        let mut s = format!("ppl under {}", describe(&m));
        match p.max_ppl {
            Some(x) => s += &format!("; drop ppl > {x}"),
            None => s += "; score only",
        }
        if let [h, mid] = p.buckets[..] {
            s += &format!("; ppl_bucket head <= {h} < middle <= {mid} < tail");
        }
        Ok(s)
    },
    build: Build::Scan(|c: &Config| {
        let p = &c.perplexity;
        Ok(Box::new(PerplexityStage {
            model: take("perplexity.model", p.model.as_ref())?,
            max_ppl: p.max_ppl,
            buckets: (p.buckets.len() == 2).then(|| [p.buckets[0], p.buckets[1]]),
        }))
    }),
    resume: RESUME,
};

pub struct PerplexityStage {
    pub model: Arc<LmModel>,
    pub max_ppl: Option<f64>,
    pub buckets: Option<[f64; 2]>,
}

/// CCNet's bucket of a perplexity: 0 head, 1 middle, 2 tail.
pub fn bucket(ppl: f64, cuts: [f64; 2]) -> f64 {
    if ppl <= cuts[0] {
        0.0
    } else if ppl <= cuts[1] {
        1.0
    } else {
        2.0
    }
}

impl ScanStage for PerplexityStage {
    fn name(&self) -> &'static str {
        "perplexity"
    }

    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        let ppl = self.model.score_normalized(doc.normalized()).perplexity();
        attrs.push(("ppl".into(), ppl));
        if let Some(cuts) = self.buckets {
            attrs.push(("ppl_bucket".into(), bucket(ppl, cuts)));
        }
        match self
            .max_ppl
            .and_then(|m| above("perplexity", "ppl", ppl, m))
        {
            Some(v) => v,
            None => Verdict::Keep,
        }
    }
}

pub const DOMAIN_RELEVANCE_STAGE: StageSpec = StageSpec {
    name: "score:domain_relevance",
    phase: Phase::Scan,
    section: "domain_relevance",
    keys: &[
        (
            "enabled",
            "Moore-Lewis domain relevance (attribute ml_score)",
        ),
        ("domain_model", ".cptlm model of domain text; required"),
        ("general_model", ".cptlm model of general text; required"),
        (
            "min_score",
            "drop documents whose ml_score (bits/word) is below; null = keep",
        ),
    ],
    enabled: |c| c.domain_relevance.enabled,
    plan: |c| {
        let d = &c.domain_relevance;
        let dm = shared::load(model_path(
            "domain_relevance.domain_model",
            d.domain_model.as_ref(),
        )?)?;
        let gm = shared::load(model_path(
            "domain_relevance.general_model",
            d.general_model.as_ref(),
        )?)?;
        let mut s = format!(
            "ml_score = H_general - H_domain (bits/word), domain {}, general {}",
            describe(&dm),
            describe(&gm)
        );
        match d.min_score {
            Some(x) => s += &format!("; drop ml_score < {x}"),
            None => s += "; score only",
        }
        Ok(s)
    },
    build: Build::Scan(|c: &Config| {
        let d = &c.domain_relevance;
        Ok(Box::new(DomainRelevanceStage {
            domain: take("domain_relevance.domain_model", d.domain_model.as_ref())?,
            general: take("domain_relevance.general_model", d.general_model.as_ref())?,
            min_score: d.min_score,
        }))
    }),
    resume: RESUME,
};

pub struct DomainRelevanceStage {
    pub domain: Arc<LmModel>,
    pub general: Arc<LmModel>,
    pub min_score: Option<f64>,
}

impl DomainRelevanceStage {
    /// Moore-Lewis: bits per word under the general model minus under the domain model.
    pub fn score(&self, normalized: &str) -> f64 {
        self.general.score_normalized(normalized).bits_per_token()
            - self.domain.score_normalized(normalized).bits_per_token()
    }
}

impl ScanStage for DomainRelevanceStage {
    fn name(&self) -> &'static str {
        "domain_relevance"
    }

    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        let s = self.score(doc.normalized());
        attrs.push(("ml_score".into(), s));
        match self
            .min_score
            .and_then(|m| below("domain_relevance", "ml_score", s, m))
        {
            Some(v) => v,
            None => Verdict::Keep,
        }
    }
}
