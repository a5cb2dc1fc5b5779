//! A fastText-style domain classifier, written here: hashed word unigram and bigram
//! features of the normalized text (`crate::normalize`), log-scaled counts, L2-normalized,
//! and a logistic regression trained by seeded SGD (one thread, a fixed shuffle: the same
//! inputs give the same model bytes). `cpt-curate classifier train` writes the model
//! (format in FORMAT.md: header, feature config, weights, xxh3 checksum); the
//! `domain_classifier` scan stage writes its probability as the `domain_score` attribute.

//!
//! `model` holds the features and the file format, `train` the training and evaluation.

mod model;
mod train;

pub use model::{FeatureConfig, Model, SCHEME};
pub use train::{evaluate, train, EvalReport, TrainOptions, TrainReport};

use crate::analysis::Analysis;
use crate::config::Config;
use crate::stage::{Attributes, Build, Phase, ScanStage, StageSpec, Verdict};

pub const STAGE: StageSpec = StageSpec {
    name: "domain_classifier",
    phase: Phase::Scan,
    section: "domain_classifier",
    keys: &[
        ("enabled", "score each document with a trained classifier"),
        ("model", "model file from `cpt-curate classifier train`"),
        ("attribute", "name of the score attribute"),
        ("bits", "expected feature hash bits (null = the model's)"),
        ("ngrams", "expected word n-gram order (null = the model's)"),
    ],
    enabled: |c| c.domain_classifier.enabled,
    plan: |c| {
        let m = Model::for_stage(&c.domain_classifier)?;
        let path = c.domain_classifier.model.as_deref().unwrap_or_default();
        Ok(format!(
            "{path}: {}, trained on {} positive / {} negative docs -> attribute {}",
            m.features.describe(),
            m.positives,
            m.negatives,
            c.domain_classifier.attribute
        ))
    },
    build: Build::Scan(|c: &Config| {
        Ok(Box::new(DomainClassifier {
            model: Model::for_stage(&c.domain_classifier)?,
            attribute: c.domain_classifier.attribute.clone(),
        }))
    }),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

struct DomainClassifier {
    model: Model,
    attribute: String,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<(u32, f32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl ScanStage for DomainClassifier {
    fn name(&self) -> &'static str {
        "domain_classifier"
    }

    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        let s = SCRATCH.with_borrow_mut(|sc| self.model.score_normalized(doc.normalized(), sc));
        attrs.push((self.attribute.clone(), s));
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::model::HEADER;
    use super::*;
    use crate::config::DomainClassifierConfig;
    use std::path::Path;

    fn write(dir: &Path, name: &str, texts: &[&str]) -> String {
        let p = dir.join(name);
        let body: String = texts
            .iter()
            .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
            .collect();
        std::fs::write(&p, body).unwrap();
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn trains_deterministically_and_checks_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let pos = write(
            dir.path(),
            "p.jsonl",
            &[
                "the licensee shall distribute the software",
                "permission is granted to copy the software",
                "warranty of merchantability and the licensee",
            ],
        );
        let neg = write(
            dir.path(),
            "n.jsonl",
            &[
                "my fellow citizens the union is strong",
                "congress and the nation face war",
                "the people of the union and congress",
            ],
        );
        let o = TrainOptions {
            features: FeatureConfig {
                bits: 12,
                ..FeatureConfig::default()
            },
            ..TrainOptions::default()
        };
        let (p, n) = (std::slice::from_ref(&pos), std::slice::from_ref(&neg));
        let (m, r) = train(p, n, &o).unwrap();
        assert!((r.train_accuracy - 1.0).abs() < 1e-12, "{r:?}");
        let (m2, _) = train(
            p,
            n,
            &TrainOptions {
                threads: 1,
                ..o.clone()
            },
        )
        .unwrap();
        assert_eq!(m.encode(), m2.encode());
        assert!(m.score("the licensee may copy the software") > 0.5);
        assert!(m.score("congress and the union") < 0.5);
        let e = evaluate(&m, &[pos], &[neg], 0.5).unwrap();
        assert!((e.auc - 1.0).abs() < 1e-12 && (e.precision - 1.0).abs() < 1e-12);

        let path = dir.path().join("clf.bin");
        m.save(&path).unwrap();
        assert_eq!(Model::load(&path).unwrap(), m);
        let mut bytes = m.encode();
        let n = bytes.len();
        bytes[HEADER + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("clf.bin") && err.contains("checksum"), "{err}");
        std::fs::write(&path, &m.encode()[..n - 100]).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
        std::fs::write(&path, b"hello").unwrap();
        assert!(Model::load(&path)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
        let missing = dir.path().join("none.bin");
        assert!(Model::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("none.bin"));
        // Another feature config than the stage expects.
        m.save(&path).unwrap();
        let c = DomainClassifierConfig {
            enabled: true,
            model: Some(path.to_string_lossy().into_owned()),
            bits: Some(20),
            ..DomainClassifierConfig::default()
        };
        let err = Model::for_stage(&c).unwrap_err().to_string();
        assert!(
            err.contains("clf.bin") && err.contains("another feature config"),
            "{err}"
        );
        // A model of a feature scheme this engine does not compute.
        let mut other = m.clone();
        other.features.scheme = 2;
        std::fs::write(&path, other.encode()).unwrap();
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("feature scheme 2"), "{err}");
    }
}
