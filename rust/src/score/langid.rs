//! Language identification with `whatlang` (pure Rust, 69 languages, no model download):
//! per document the attributes `lang` (whatlang's ISO 639-3 code, `und` when no language
//! is found) and `lang_conf` (whatlang's confidence, 0..=1). The stage rejects (reason
//! `language`) documents outside `keep`, inside `drop`, or under `min_confidence`;
//! per-language quotas are a selection policy (`crate::select`), applied in the decide step.

use super::label;
use crate::analysis::Analysis;
use crate::config::{Config, LanguageConfig};
use crate::stage::{Attributes, Build, Phase, ScanStage, StageSpec, Verdict};
use crate::{Error, Result};

pub const STAGE: StageSpec = StageSpec {
    name: "language",
    phase: Phase::Scan,
    section: "language",
    keys: &[
        ("enabled", "identify each document's language (whatlang)"),
        ("keep", "keep only these languages (ISO 639-3); [] = any"),
        ("drop", "reject these languages (ISO 639-3)"),
        (
            "min_confidence",
            "reject documents whose lang_conf is lower",
        ),
        (
            "quotas",
            "{lang: max fraction of the selected docs or bytes}",
        ),
        ("quota_unit", "what quotas count: docs or bytes"),
        ("sample_chars", "characters examined (the document's first)"),
    ],
    enabled: |c| c.language.enabled,
    plan: |c| {
        let l = &c.language;
        l.validate()?;
        let list = |v: &[String]| {
            if v.is_empty() {
                "any".to_string()
            } else {
                v.join(",")
            }
        };
        let quotas: Vec<String> = l.quotas.iter().map(|(k, v)| format!("{k}<={v}")).collect();
        Ok(format!(
            "whatlang on the first {} chars: attributes lang, lang_conf; keep {}, drop [{}], \
             min_confidence {}, quotas [{}] of kept {}",
            l.sample_chars,
            list(&l.keep),
            l.drop.join(","),
            l.min_confidence,
            quotas.join(", "),
            l.quota_unit
        ))
    },
    build: Build::Scan(|c: &Config| Ok(Box::new(LanguageId::new(&c.language)))),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

/// The code of a document whose language whatlang cannot tell.
pub const UNKNOWN: &str = "und";

/// Check that every entry of `codes` is a whatlang code, naming `key` when not.
pub fn check_codes(key: &str, codes: &[&str]) -> Result<()> {
    for c in codes {
        if *c != UNKNOWN && whatlang::Lang::from_code(*c).is_none() {
            let all: Vec<&str> = whatlang::Lang::all().iter().map(|l| l.code()).collect();
            return Err(Error::Config(format!(
                "{key}: `{c}` is not a language code (ISO 639-3 as whatlang spells them: {}, or {UNKNOWN})",
                all.join(", ")
            )));
        }
    }
    Ok(())
}

/// The first `n` characters of `text`.
fn sample(text: &str, n: usize) -> &str {
    if text.len() <= n {
        return text;
    }
    text.char_indices().nth(n).map_or(text, |(i, _)| &text[..i])
}

/// The language (whatlang's code, or `und`) and confidence of a text's first `sample_chars`.
pub fn detect(text: &str, sample_chars: usize) -> (&'static str, f64) {
    match whatlang::detect(sample(text, sample_chars)) {
        Some(info) => (info.lang().code(), info.confidence()),
        None => (UNKNOWN, 0.0),
    }
}

pub struct LanguageId {
    keep: Vec<String>,
    drop: Vec<String>,
    min_confidence: f64,
    sample_chars: usize,
}

impl LanguageId {
    pub fn new(c: &LanguageConfig) -> Self {
        LanguageId {
            keep: c.keep.clone(),
            drop: c.drop.clone(),
            min_confidence: c.min_confidence,
            sample_chars: c.sample_chars,
        }
    }
}

impl ScanStage for LanguageId {
    fn name(&self) -> &'static str {
        "language"
    }

    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        let (lang, conf) = detect(doc.text(), self.sample_chars);
        attrs.push((
            "lang".into(),
            label::pack(lang).expect("codes are 3 ASCII letters"),
        ));
        attrs.push(("lang_conf".into(), conf));
        let reject = |detail: String| Verdict::Reject {
            reason: "language",
            detail,
        };
        if !self.keep.is_empty() && !self.keep.iter().any(|k| k == lang) {
            return reject(format!("lang {lang} not in keep [{}]", self.keep.join(",")));
        }
        if self.drop.iter().any(|k| k == lang) {
            return reject(format!("lang {lang} in drop"));
        }
        if conf < self.min_confidence {
            return reject(format!(
                "lang_conf {conf:.2} < {:.2} ({lang})",
                self.min_confidence
            ));
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DE: &str = "Der schnelle braune Fuchs springt über den faulen Hund, und die Katze \
        schläft den ganzen Tag auf dem warmen Sofa im Wohnzimmer des alten Hauses.";
    const EN: &str = "The quick brown fox jumps over the lazy dog, and the cat sleeps all day \
        long on the warm sofa in the living room of the old house by the river.";

    fn run(c: &LanguageConfig, text: &str) -> (Verdict, Attributes) {
        let mut attrs = Vec::new();
        let v = LanguageId::new(c).scan(&Analysis::new(text, 0), &mut attrs);
        (v, attrs)
    }

    #[test]
    fn keep_drop_and_confidence() {
        let c = LanguageConfig {
            enabled: true,
            keep: vec!["eng".into()],
            ..LanguageConfig::default()
        };
        let (v, attrs) = run(&c, EN);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some("eng"));
        assert!(attrs[1].1 > 0.5, "{attrs:?}");
        let (v, attrs) = run(&c, DE);
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some("deu"));
        assert!(
            matches!(v, Verdict::Reject { reason: "language", ref detail } if detail.contains("deu")),
            "{v:?}"
        );
        let c = LanguageConfig {
            drop: vec!["deu".into()],
            ..LanguageConfig::default()
        };
        assert!(matches!(run(&c, DE).0, Verdict::Reject { .. }));
        assert_eq!(run(&c, EN).0, Verdict::Keep);
        let c = LanguageConfig {
            min_confidence: 1.01,
            ..LanguageConfig::default()
        };
        assert!(
            matches!(run(&c, EN).0, Verdict::Reject { ref detail, .. } if detail.starts_with("lang_conf"))
        );
        let (_, attrs) = run(&LanguageConfig::default(), "1234 5678 !!!");
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some(UNKNOWN));
        assert!(attrs[1].1.abs() < f64::EPSILON);
        assert_eq!(sample("héllo", 2), "hé");
        assert!(check_codes("language.keep", &["eng", "xxx"])
            .unwrap_err()
            .to_string()
            .contains("language.keep: `xxx`"));
    }
}
