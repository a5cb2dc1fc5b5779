//! Near-dup hot paths: normalize, signature, sketch of a ~5 KB document, and the
//! clustering of 20k sketches. Run: `cargo bench -p cpt-engine --bench minhash`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use cpt_engine::dedup::textprep::normalize_into;
use cpt_engine::dedup::{MinHashConfig, MinHasher, NearDup, Shingle};

/// A deterministic English-like text of about `words` words.
fn text(words: usize, seed: u64) -> String {
    const VOCAB: [&str; 24] = [
        "the",
        "License",
        "shall",
        "be",
        "granted",
        "to",
        "any",
        "person",
        "obtaining",
        "a",
        "copy",
        "of",
        "this",
        "software",
        "and",
        "associated",
        "documentation",
        "files,",
        "Nation",
        "Congress",
        "people",
        "United",
        "States.",
        "government",
    ];
    let mut state = seed;
    let mut out = String::new();
    for _ in 0..words {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push_str(VOCAB[(state >> 59) as usize % VOCAB.len()]);
        out.push(' ');
    }
    out
}

fn bench_doc(c: &mut Criterion) {
    let raw = text(800, 1);
    let mut norm = String::new();
    normalize_into(&raw, &mut norm);
    let mut g = c.benchmark_group("minhash_doc");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("normalize", |b| {
        b.iter(|| normalize_into(black_box(&raw), &mut norm))
    });
    normalize_into(&raw, &mut norm);
    for bits in [32u32, 64] {
        let h = MinHasher::new(128, 5, Shingle::Word, bits, 42);
        g.bench_with_input(BenchmarkId::new("signature", bits), &norm, |b, t| {
            b.iter(|| h.signature(black_box(t)))
        });
    }
    let nd = NearDup::new(&MinHashConfig::default()).unwrap();
    g.bench_function("sketch", |b| b.iter(|| nd.sketch(black_box(&norm))));
    g.finish();
}

fn bench_cluster(c: &mut Criterion) {
    let nd = NearDup::new(&MinHashConfig::default()).unwrap();
    let sketches: Vec<Vec<u8>> = (0..20_000u64)
        .map(|i| nd.sketch(&text(60, i % 15_000)))
        .collect();
    let mut g = c.benchmark_group("minhash_cluster");
    g.sample_size(10);
    g.throughput(Throughput::Elements(sketches.len() as u64));
    g.bench_function("cluster_20k", |b| {
        b.iter(|| {
            nd.cluster(
                sketches.iter().enumerate().map(|(i, s)| (i as u64, s)),
                None,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_doc, bench_cluster);
criterion_main!(benches);
