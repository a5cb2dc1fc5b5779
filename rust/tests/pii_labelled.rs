//! PII recall and precision on a labelled set (`tests/data/pii_labelled.jsonl`): each line is
//! a string with the one kind of PII it holds (`phone`, `email`, `ip`) or `null` for a
//! look-alike that is not PII (versions, dates, prices, hashes, ISBNs, ratios, code). A PII
//! string counts as found when its kind is redacted; any redaction of a look-alike, or of
//! another kind, is a false positive. Both rates must reach 0.95; the test prints them.

use cpt_engine::config::PiiConfig;
use cpt_engine::filters::pii::Redactor;

#[test]
fn recall_and_precision_reach_095() {
    let data = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pii_labelled.jsonl"),
    )
    .unwrap();
    let r = Redactor::new(PiiConfig::default());
    let (mut tp, mut fp, mut fneg, mut n) = (0u32, 0u32, 0u32, 0u32);
    let mut misses = Vec::new();
    for line in data.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = v["text"].as_str().unwrap();
        let (out, c) = r.redact(text);
        n += 1;
        let found = [("phone", c.phone), ("email", c.email), ("ip", c.ip_address)];
        match v["pii"].as_str() {
            Some(kind) => {
                let hit = found.iter().any(|&(k, count)| k == kind && count > 0);
                let wrong = found.iter().any(|&(k, count)| k != kind && count > 0);
                if hit {
                    tp += 1;
                } else {
                    fneg += 1;
                    misses.push(format!("missed {kind}: {text:?} -> {out:?}"));
                }
                if wrong {
                    fp += 1;
                    misses.push(format!("wrong kind for {kind}: {text:?} -> {out:?}"));
                }
            }
            None => {
                if c.total() > 0 {
                    fp += 1;
                    misses.push(format!("false positive: {text:?} -> {out:?}"));
                }
            }
        }
    }
    let recall = f64::from(tp) / f64::from(tp + fneg);
    let precision = f64::from(tp) / f64::from(tp + fp);
    println!("PII labelled set: {n} strings, recall {recall:.3}, precision {precision:.3}");
    for m in &misses {
        println!("  {m}");
    }
    assert!(n >= 200, "{n} labelled strings");
    assert!(
        recall >= 0.95 && precision >= 0.95,
        "recall {recall:.3}, precision {precision:.3}: {misses:#?}"
    );
}
