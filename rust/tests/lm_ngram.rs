//! The n-gram LM on the shared corpora: a model of speeches gives held-out speeches a lower
//! perplexity than a model of licenses does, and the reverse for held-out licenses; the
//! Moore-Lewis score ranks held-out licenses above held-out speeches (AUC >= 0.95); the
//! perplexity and domain_relevance stages record their attributes and drop by threshold in a
//! real job; bad model files are errors naming the file, in the plan and when the stages are
//! built.

mod shared_data;
use cpt_engine::cli::main_with_args;
use cpt_engine::config::Config;
use cpt_engine::pipeline::{self, RunOptions};
use cpt_engine::score::ngram::{train, LmModel, LmScore, TrainOptions};
use cpt_engine::stage::ScanStages;
use shared_data::texts;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn shared(rel: &str) -> PathBuf {
    shared_data::path(rel).unwrap_or_else(|| panic!("shared data {rel} is needed by the lm tests"))
}

/// The two models, trained once for all tests of this file (order 3, Kneser-Ney).
fn models() -> &'static (PathBuf, PathBuf, tempfile::TempDir) {
    static M: OnceLock<(PathBuf, PathBuf, tempfile::TempDir)> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, rel) in [
            ("general", "general/sotu-train.jsonl.zst"),
            ("domain", "domain/licenses-train.jsonl.zst"),
        ] {
            let out = dir.path().join(format!("{name}.cptlm"));
            let r = train(&TrainOptions {
                inputs: vec![shared(rel).to_string_lossy().into_owned()],
                output: out.clone(),
                order: 3,
                ..TrainOptions::default()
            })
            .unwrap();
            assert!(r.ngrams[2] > 10_000, "{r:?}");
            assert!(r.unk_words > 0 && r.discount_fallback.is_empty(), "{r:?}");
            paths.push(out);
        }
        (paths[0].clone(), paths[1].clone(), dir)
    })
}

fn corpus_ppl(m: &LmModel, docs: &[String]) -> f64 {
    let mut t = LmScore::default();
    for d in docs {
        t.add(&m.score_text(d));
    }
    t.perplexity()
}

#[test]
fn each_model_prefers_its_own_held_out_text() {
    let (g, d, _) = models();
    let (general, domain) = (LmModel::load(g).unwrap(), LmModel::load(d).unwrap());
    let speeches = texts(&shared("general/sotu-heldout.jsonl.zst"));
    let licenses = texts(&shared("domain/licenses-heldout.jsonl.zst"));
    let (sg, sd) = (
        corpus_ppl(&general, &speeches),
        corpus_ppl(&domain, &speeches),
    );
    let (lg, ld) = (
        corpus_ppl(&general, &licenses),
        corpus_ppl(&domain, &licenses),
    );
    eprintln!("held-out speeches: ppl {sg:.1} (general model) vs {sd:.1} (license model)");
    eprintln!("held-out licenses: ppl {lg:.1} (general model) vs {ld:.1} (license model)");
    assert!(sg < sd, "speeches: general {sg} vs domain {sd}");
    assert!(ld < lg, "licenses: domain {ld} vs general {lg}");
}

/// The probability that a random license outscores a random speech (ties count half).
fn auc(pos: &[f64], neg: &[f64]) -> f64 {
    let mut wins = 0.0;
    for p in pos {
        for n in neg {
            wins += match p.partial_cmp(n) {
                Some(std::cmp::Ordering::Greater) => 1.0,
                Some(std::cmp::Ordering::Equal) => 0.5,
                _ => 0.0,
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

#[test]
fn moore_lewis_ranks_licenses_above_speeches_in_a_job() {
    let (g, d, _) = models();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let sets = vec![
        format!(
            "inputs=[{:?}, {:?}]",
            shared("domain/licenses-heldout.jsonl.zst").to_string_lossy(),
            shared("general/sotu-heldout.jsonl.zst").to_string_lossy()
        ),
        format!("output={:?}", out.to_string_lossy()),
        "filters.length.enabled=false".into(),
        "filters.repetition.enabled=false".into(),
        "filters.quality.enabled=false".into(),
        "exact_dedup.enabled=false".into(),
        "minhash.enabled=false".into(),
        "domain_relevance.enabled=true".into(),
        format!("domain_relevance.domain_model={:?}", d.to_string_lossy()),
        format!("domain_relevance.general_model={:?}", g.to_string_lossy()),
        "perplexity.enabled=true".into(),
        format!("perplexity.model={:?}", g.to_string_lossy()),
        "perplexity.buckets=[300, 1000]".into(),
        "perplexity.max_ppl=100000".into(),
    ];
    let config = Config::resolve(None, None, &sets).unwrap();
    let plan = pipeline::plan(&config).unwrap().describe();
    assert!(
        plan.contains("[scan] score:perplexity: ppl under"),
        "{plan}"
    );
    assert!(
        plan.contains("[scan] score:domain_relevance: ml_score"),
        "{plan}"
    );
    // The stages' attributes, read back from the scan records through the stage itself.
    let stages = ScanStages::from_config(&config).unwrap();
    assert_eq!(stages.names(), ["perplexity", "domain_relevance"]);
    let score = |docs: &[String]| -> Vec<f64> {
        docs.iter()
            .map(|t| {
                let a = cpt_engine::analysis::Analysis::new(t, 0);
                let mut attrs = Vec::new();
                stages.scan(&a, &mut attrs);
                let ppl = attrs.iter().find(|(k, _)| k == "ppl").unwrap().1;
                let bucket = attrs.iter().find(|(k, _)| k == "ppl_bucket").unwrap().1;
                let want = cpt_engine::score::stages::bucket(ppl, [300.0, 1000.0]);
                assert!((bucket - want).abs() < 1e-12, "{bucket} vs {want}");
                attrs.iter().find(|(k, _)| k == "ml_score").unwrap().1
            })
            .collect()
    };
    let lic = score(&texts(&shared("domain/licenses-heldout.jsonl.zst")));
    let sp = score(&texts(&shared("general/sotu-heldout.jsonl.zst")));
    let a = auc(&lic, &sp);
    eprintln!("Moore-Lewis AUC, held-out licenses vs speeches: {a:.4}");
    assert!(a >= 0.95, "AUC {a}");
    drop(stages);

    // A real job: a threshold between the classes drops the speeches, reason domain_relevance.
    let mut sets2 = sets.clone();
    sets2.push("domain_relevance.min_score=0.0".into());
    let config = Config::resolve(None, None, &sets2).unwrap();
    let report = pipeline::run(
        &config,
        &RunOptions {
            overwrite: true,
            quiet: true,
        },
    )
    .unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let rejected = json["rejected"]["domain_relevance"]["docs"]
        .as_u64()
        .unwrap_or(0);
    let wrong_lic = lic.iter().filter(|&&s| s < 0.0).count() as u64;
    let right_sp = sp.iter().filter(|&&s| s < 0.0).count() as u64;
    assert_eq!(rejected, wrong_lic + right_sp, "{json}");
    assert!(right_sp >= 20, "{sp:?}");
}

#[test]
fn bad_model_files_are_named_errors_in_plan_and_cli() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.jsonl");
    std::fs::write(&input, "{\"text\": \"some words here\"}\n").unwrap();
    let bad = dir.path().join("broken.cptlm");
    std::fs::write(&bad, b"CPTNGRAM but not really a model file at all........").unwrap();
    let with_model = |model: &Path| {
        Config::resolve(
            None,
            None,
            &[
                format!("inputs=[{:?}]", input.to_string_lossy()),
                format!("output={:?}", dir.path().join("o").to_string_lossy()),
                "perplexity.enabled=true".into(),
                format!("perplexity.model={:?}", model.to_string_lossy()),
            ],
        )
        .unwrap()
    };
    for model in [bad.clone(), dir.path().join("missing.cptlm")] {
        let c = with_model(&model);
        let e = pipeline::plan(&c).err().expect("bad model").to_string();
        let name = model.file_name().unwrap().to_string_lossy().into_owned();
        assert!(e.contains(&name), "{e}");
        // Building the stages (without a plan) is an error too, never a panic.
        let e = ScanStages::from_config(&c)
            .err()
            .expect("bad model")
            .to_string();
        assert!(e.contains(&name) && e.contains("perplexity.model"), "{e}");
    }
    // A model the plan checked, then damaged before the stages are built: reloaded, refused.
    let good = dir.path().join("good.cptlm");
    std::fs::copy(&models().0, &good).unwrap();
    let c = with_model(&good);
    pipeline::plan(&c).unwrap();
    std::fs::write(&good, b"CPTNGRAM damaged after the plan").unwrap();
    let e = ScanStages::from_config(&c)
        .err()
        .expect("damaged model")
        .to_string();
    assert!(e.contains("good.cptlm"), "{e}");
    let e = Config::resolve(None, None, &["perplexity.enabled=true".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("perplexity.model"), "{e}");
    let e = Config::resolve(None, None, &["perplexity.buckets=[5, 1]".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("perplexity.buckets"), "{e}");
    let code = main_with_args([
        "cpt-curate",
        "lm",
        "score",
        "-m",
        &bad.to_string_lossy(),
        "-i",
        &input.to_string_lossy(),
    ]);
    assert_eq!(code, 1);
}

#[test]
fn cli_trains_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.jsonl");
    let mut body = String::new();
    for i in 0..50 {
        body += &format!(
            "{{\"text\": \"the licensee shall keep notice {} of the work\"}}\n",
            i % 5
        );
    }
    std::fs::write(&input, body).unwrap();
    let out = dir.path().join("m.cptlm");
    let code = main_with_args([
        "cpt-curate",
        "lm",
        "train",
        "-i",
        &input.to_string_lossy(),
        "-o",
        &out.to_string_lossy(),
        "--order",
        "4",
        "--prune",
        "0,1",
        "--quiet",
    ]);
    assert_eq!(code, 0);
    let m = LmModel::load(&out).unwrap();
    assert_eq!(m.order(), 4);
    assert!(
        m.score_text("the licensee shall keep notice 3 of the work")
            .perplexity()
            < 3.0
    );
}
