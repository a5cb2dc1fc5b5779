//! Shard write (encode + zstd + index) and read (checksum + decode) throughput on a token
//! stream with a realistic Zipf-like id distribution. `cargo bench --bench tokenize`.

use cpt_engine::shard::{Dtype, ShardReader, ShardWriter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// One million ids, skewed towards small ids like real text, with EOS every ~700 tokens.
fn token_docs() -> Vec<Vec<u32>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut docs = Vec::new();
    let mut total = 0;
    while total < 1_000_000 {
        let len = 200 + (next() % 1000) as usize;
        let mut doc: Vec<u32> = (0..len)
            .map(|_| 1 + ((next() % 49_151) as f64).powf(2.0) as u32 / 49_151)
            .collect();
        doc.push(0);
        total += doc.len();
        docs.push(doc);
    }
    docs
}

fn bench(c: &mut Criterion) {
    let docs = token_docs();
    let tokens: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.cpts");
    let mut group = c.benchmark_group("shard");
    group.throughput(Throughput::Elements(tokens));
    group.sample_size(10);
    group.bench_function("write_1M_tokens_zstd6", |b| {
        b.iter(|| {
            let mut w = ShardWriter::create(&path, Dtype::U16, 1 << 18, 6).unwrap();
            w.push_docs(docs.iter().map(Vec::as_slice)).unwrap();
            black_box(w.finish().unwrap())
        })
    });
    group.bench_function("read_1M_tokens", |b| {
        b.iter(|| {
            let mut r = ShardReader::open(&path).unwrap();
            black_box(r.read(0, r.num_tokens()).unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
