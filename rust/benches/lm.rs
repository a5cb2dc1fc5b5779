//! `cargo bench -p cpt-engine --bench lm`: n-gram LM scoring throughput on one thread (MB/s of
//! document text), with and without the normalization the shared analysis does, for an
//! order-3 and an order-5 Kneser-Ney model trained on the shared speeches (`shared/data`,
//! beside the checkout), scoring the held-out licenses (out of domain: many backoffs).

use cpt_engine::normalize::normalize;
use cpt_engine::score::ngram::{train, LmModel, TrainOptions};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;

#[path = "../tests/shared_data/mod.rs"]
mod shared_data;
use shared_data::texts;

fn shared(rel: &str) -> PathBuf {
    shared_data::path(rel).unwrap_or_else(|| panic!("shared/data/{rel} is needed by this bench"))
}

fn scoring(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let docs = texts(&shared("domain/licenses-heldout.jsonl.zst"));
    let normalized: Vec<String> = docs.iter().map(|d| normalize(d)).collect();
    let bytes: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let mut g = c.benchmark_group("lm");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for order in [3, 5] {
        let path = dir.path().join(format!("m{order}.cptlm"));
        let r = train(&TrainOptions {
            inputs: vec![shared("general/sotu-train.jsonl.zst")
                .to_string_lossy()
                .into_owned()],
            output: path.clone(),
            order,
            threads: Some(1),
            ..TrainOptions::default()
        })
        .unwrap();
        eprintln!(
            "order {order}: trained on {:.1} MB in {:.2} s ({:.1} MB/s, 1 thread), {:?} n-grams, {:.1} MB loaded",
            r.text_bytes as f64 / 1e6,
            r.seconds,
            r.mb_per_second,
            r.ngrams,
            r.loaded_bytes as f64 / 1e6
        );
        let m = LmModel::load(&path).unwrap();
        g.bench_function(format!("score_normalized_order{order}"), |b| {
            b.iter(|| {
                normalized
                    .iter()
                    .map(|t| m.score_normalized(t).log10_prob)
                    .sum::<f64>()
            })
        });
        g.bench_function(format!("normalize_and_score_order{order}"), |b| {
            b.iter(|| docs.iter().map(|t| m.score_text(t).log10_prob).sum::<f64>())
        });
    }
    g.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
