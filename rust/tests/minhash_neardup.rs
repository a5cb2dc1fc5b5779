//! Near-dup quality and determinism on the shared benchmark corpus
//! (`shared/data/neardup`: documents plus every pair with exact word-5-gram Jaccard >= 0.5),
//! and the statistical accuracy of the Jaccard estimate.

mod neardup_truth;
mod shared_data;
use std::collections::HashSet;

use cpt_engine::dedup::minhash::{jaccard_estimate, Signature};
use cpt_engine::dedup::textprep::normalize_into;
use cpt_engine::dedup::{ByteSize, MinHashConfig, MinHasher, NearDup, NearDupOutcome, Shingle};
use cpt_engine::normalize::normalize;

struct Corpus {
    normalized: Vec<String>,
    reference: neardup_truth::Reference,
}

fn load() -> Option<Corpus> {
    let (_, reference) = neardup_truth::load()?;
    let mut fast = String::new();
    let normalized = reference
        .texts
        .iter()
        .zip(&reference.ids)
        .map(|(raw, id)| {
            let n = normalize(raw);
            // The sketching fast path must give exactly the engine's normalization.
            normalize_into(raw, &mut fast);
            assert_eq!(fast, n, "fast normalization differs for {id}");
            n
        })
        .collect();
    Some(Corpus {
        normalized,
        reference,
    })
}

fn run(
    c: &Corpus,
    cfg: &MinHashConfig,
    threads: usize,
    spill: Option<&std::path::Path>,
) -> NearDupOutcome {
    let nd = NearDup::new(cfg).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        use rayon::prelude::*;
        let sketches: Vec<Vec<u8>> = c.normalized.par_iter().map(|t| nd.sketch(t)).collect();
        nd.cluster(
            sketches.into_iter().enumerate().map(|(i, s)| (i as u64, s)),
            spill,
        )
        .unwrap()
    })
}

fn precision_recall(out: &NearDupOutcome, truth: &HashSet<usize>) -> (f64, f64) {
    let got: HashSet<usize> = out.duplicates.iter().map(|h| h.ordinal as usize).collect();
    neardup_truth::precision_recall(&got, truth)
}

#[test]
fn neardup_quality_determinism_and_spill() {
    let Some(c) = load() else { return };
    let truth = c.reference.removed(0.8);
    assert!(truth.len() > 500, "ground truth too small: {}", truth.len());

    let cfg = MinHashConfig::default();
    let one = run(&c, &cfg, 1, None);
    let (p, r) = precision_recall(&one, &truth);
    eprintln!(
        "no verify: {} removed, truth {}, precision {p:.4} recall {r:.4}",
        one.duplicates.len(),
        truth.len()
    );
    assert!(p >= 0.95 && r >= 0.95, "precision {p} recall {r}");
    // Kept docs are the first of their cluster: every kept ordinal is smaller than its duplicate.
    assert!(one.duplicates.iter().all(|h| h.kept < h.ordinal));

    // Same bytes for 1 and 2 threads.
    let two = run(&c, &cfg, 2, None);
    assert_eq!(
        serde_json::to_string(&one).unwrap(),
        serde_json::to_string(&two).unwrap()
    );

    // Spilling band tables to disk keeps the same result.
    let dir = tempfile::tempdir().unwrap();
    let spill_cfg = MinHashConfig {
        mem_limit: Some(ByteSize(256 * 1024)),
        ..cfg.clone()
    };
    let spilled = run(&c, &spill_cfg, 2, Some(dir.path()));
    assert!(spilled.stats.spilled && spilled.stats.spill_runs > 1);
    assert!(!one.stats.spilled);
    assert_eq!(one.duplicates, spilled.duplicates);
    assert!((one.stats.index_bytes_per_doc - 12.0 * one.stats.bands as f64).abs() < 1e-9);

    // Verification removes false positives.
    let vcfg = MinHashConfig {
        verify: true,
        ..cfg
    };
    let v = run(&c, &vcfg, 2, None);
    let (pv, rv) = precision_recall(&v, &truth);
    eprintln!(
        "verify: {} removed, precision {pv:.4} recall {rv:.4}; stats {:?}",
        v.duplicates.len(),
        v.stats
    );
    assert!(pv >= 0.99 && rv >= 0.95, "precision {pv} recall {rv}");
    assert!(v.stats.verified_pairs.unwrap() <= v.stats.candidate_pairs);
}

#[test]
fn jaccard_estimate_within_statistical_bound() {
    // Random set pairs with a known overlap; the estimate is Binomial(k, J)/k, so
    // |est - J| <= 4.5 sigma almost surely, and the mean error over many pairs ~ 0.
    for bits in [32, 64] {
        let k = 256;
        let h = MinHasher::new(k, 5, Shingle::Word, bits, 7);
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state ^ (state >> 29)
        };
        let mut total_err = 0.0;
        let trials = 200;
        for t in 0..trials {
            let common = 50 + (t * 7) % 400;
            let only = 10 + (t * 13) % 300;
            let shared: Vec<u64> = (0..common).map(|_| next()).collect();
            let mut a = shared.clone();
            let mut b = shared;
            a.extend((0..only).map(|_| next()));
            b.extend((0..only / 2).map(|_| next()));
            let exact = common as f64 / (common + only + only / 2) as f64;
            let (sa, sb): (Signature, Signature) =
                (h.signature_of_hashes(&a), h.signature_of_hashes(&b));
            let est = jaccard_estimate(&sa, &sb).unwrap();
            let sigma = (exact * (1.0 - exact) / k as f64).sqrt();
            assert!(
                (est - exact).abs() <= 4.5 * sigma + 1e-9,
                "bits {bits}: est {est} exact {exact}"
            );
            total_err += est - exact;
        }
        let mean = total_err / trials as f64;
        assert!(
            mean.abs() < 0.01,
            "bits {bits}: biased estimate, mean error {mean}"
        );
    }
}
