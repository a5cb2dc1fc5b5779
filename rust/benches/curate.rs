//! `cargo bench -p cpt-engine --bench curate`: the per-document costs of the curation
//! stages (normalize, the scan stages over one shared analysis, PII redaction) and a
//! whole two-pass job on a generated corpus, so a slowdown in any of them shows up.

use cpt_engine::analysis::Analysis;
use cpt_engine::config::{Config, PiiConfig};
use cpt_engine::filters::pii::Redactor;
use cpt_engine::normalize::normalize;
use cpt_engine::pipeline::{run, RunOptions};
use cpt_engine::stage::ScanStages;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../tests/curate_common/mod.rs"]
mod curate_common;

/// The tests' prose, with non-ASCII words and PII, so every stage has work.
fn document(seed: usize, words: usize) -> String {
    format!(
        "{} Zürich café.\nContact clerk@example.org or 555-867-5309.",
        curate_common::prose(seed, words)
    )
}

fn stages(c: &mut Criterion) {
    let text = document(7, 1000);
    let stages = ScanStages::from_config(&Config::default()).unwrap();
    let redactor = Redactor::new(PiiConfig::default());
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("normalize", |b| b.iter(|| normalize(&text)));
    g.bench_function("scan_stages", |b| {
        b.iter(|| stages.scan(&Analysis::new(&text, 42), &mut Vec::new()))
    });
    g.bench_function("pii", |b| b.iter(|| redactor.redact(&text)));
    g.finish();
}

fn job(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for i in 0..2000 {
        body.push_str(&serde_json::json!({"id": i, "text": document(i % 1500, 400)}).to_string());
        body.push('\n');
    }
    let input = dir.path().join("corpus.jsonl");
    std::fs::write(&input, &body).unwrap();
    let out = dir.path().join("out");
    let sets = [
        format!("inputs=[{:?}]", input.to_string_lossy()),
        format!("output={:?}", out.to_string_lossy()),
    ];
    let config = Config::resolve(None, None, &sets).unwrap();
    let mut g = c.benchmark_group("job");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("run_2000_docs", |b| {
        b.iter(|| {
            run(
                &config,
                &RunOptions {
                    overwrite: true,
                    quiet: true,
                },
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, stages, job);
criterion_main!(benches);
