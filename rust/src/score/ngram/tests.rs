//! The model against hand computations on a tiny corpus, normalization of every context's
//! distribution, the file format's checks, pruning and determinism.

use super::*;
use std::path::Path;

fn opts(order: usize, smoothing: Smoothing) -> TrainOptions {
    TrainOptions {
        order,
        smoothing,
        min_count: 1,
        ..TrainOptions::default()
    }
}

fn model(o: &TrainOptions, docs: &[&str]) -> LmModel {
    let (data, _) = train_from_docs(o, docs).unwrap();
    LmModel::from_data(data, Path::new("mem.cptlm")).unwrap()
}

fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
}

const TINY: [&str; 3] = ["a b", "B, a!", "a"];

#[test]
fn kneser_ney_matches_a_hand_computation() {
    // <s> a b </s> / <s> b a </s> / <s> a </s>; ids: a 3 (count 3), b 4 (count 2).
    let m = model(&opts(2, Smoothing::KneserNey), &TINY);
    let (a, b) = (m.word_id("a"), m.word_id("b"));
    assert_eq!((a, b), (3, 4));
    // Unigram continuation counts a 2 ({<s>, b}), b 2, </s> 2, <unk> 0: t3 = 0, so the
    // discounts fall back to 0.5 / 1 / 1.5. u = (2 - 1) / 6 each, gamma = 1/2, uniform over
    // the 4 predictable ids: p = 1/6 + 1/8 = 7/24; p(<unk>) = 1/8.
    close(m.log10_prob(&[], a), (7.0f64 / 24.0).log10());
    close(m.log10_prob(&[], EOS), (7.0f64 / 24.0).log10());
    close(m.log10_prob(&[], UNK), (1.0f64 / 8.0).log10());
    // Context <s>: c(<s> a) = 2, c(<s> b) = 1: u = (2 - 1)/3, (1 - 0.5)/3; gamma = 1/2.
    close(
        m.log10_prob(&[BOS], a),
        (1.0f64 / 3.0 + 0.5 * 7.0 / 24.0).log10(),
    );
    close(
        m.log10_prob(&[BOS], b),
        (1.0f64 / 6.0 + 0.5 * 7.0 / 24.0).log10(),
    );
    // Context a: c(a b) = 1, c(a </s>) = 2; a a is unseen: gamma(a) p(a) = 7/48.
    close(m.log10_prob(&[a], b), (15.0f64 / 48.0).log10());
    close(m.log10_prob(&[a], EOS), (23.0f64 / 48.0).log10());
    close(m.log10_prob(&[a], a), (7.0f64 / 48.0).log10());
    close(m.log10_prob(&[a], UNK), (1.0f64 / 16.0).log10());
    // A whole sentence is the product: <s> a b </s>.
    let s = m.score_text("A b");
    // p(</s> | b): c(b </s>) = 1, c(b a) = 1: u = 0.5/2 each, gamma = 1/2.
    let want = (23.0f64 / 48.0 * 15.0 / 48.0 * (0.25 + 0.5 * 7.0 / 24.0)).log10();
    close(s.log10_prob, want);
    assert_eq!(s.tokens, 3);
    close(s.perplexity(), 10f64.powf(-want / 3.0));
}

#[test]
fn stupid_backoff_matches_a_hand_computation() {
    let m = model(&opts(2, Smoothing::StupidBackoff), &TINY);
    let (a, b) = (m.word_id("a"), m.word_id("b"));
    // Unigrams: (count + 1) / (8 + 4), counts a 3, b 2, </s> 3.
    close(m.log10_prob(&[], a), (4.0f64 / 12.0).log10());
    // Seen bigram: c(a b) / c(a .) = 1/3; unseen: 0.4 p(a).
    close(m.log10_prob(&[a], b), (1.0f64 / 3.0).log10());
    let s = m.score_ids(&[a, a]);
    let want = (2.0f64 / 3.0).log10() + (0.4f64 * 4.0 / 12.0).log10() + (2.0f64 / 3.0).log10();
    close(s.log10_prob, want);
}

/// A small corpus with repeats, so every order has singletons, doubletons and more.
fn corpus() -> Vec<String> {
    let words = [
        "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "it",
    ];
    let mut x = 12345u64;
    (0..60)
        .map(|d| {
            let len = 3 + d % 11;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    words[(x % 10) as usize % (4 + d % 7)]
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn assert_normalized(m: &LmModel, contexts: &[Vec<u32>]) {
    for c in contexts {
        let total: f64 = (0..m.vocab_size() as u32)
            .filter(|&w| w != BOS)
            .map(|w| 10f64.powf(m.log10_prob(c, w)))
            .sum();
        assert!((total - 1.0).abs() < 1e-4, "context {c:?}: sum {total}");
    }
}

#[test]
fn kneser_ney_distributions_sum_to_one_for_every_context_kind() {
    let docs = corpus();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    for prune in [vec![], vec![0, 1]] {
        let o = TrainOptions {
            order: 3,
            min_count: 2,
            prune,
            ..TrainOptions::default()
        };
        let m = model(&o, &refs);
        let (the, cat, dog) = (m.word_id("the"), m.word_id("cat"), m.word_id("dog"));
        assert_normalized(
            &m,
            &[
                vec![],
                vec![BOS],
                vec![the],
                vec![BOS, the],
                vec![the, cat],
                vec![cat, the],
                vec![dog, dog],
                vec![UNK, the],
                vec![EOS, EOS],
            ],
        );
    }
}

#[test]
fn pruning_drops_rare_ngrams_but_keeps_their_contexts() {
    let docs = corpus();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let full = train_from_docs(&opts(3, Smoothing::KneserNey), &refs)
        .unwrap()
        .1;
    let o = TrainOptions {
        prune: vec![1],
        ..opts(3, Smoothing::KneserNey)
    };
    let (data, pruned) = train_from_docs(&o, &refs).unwrap();
    assert!(pruned.ngrams[2] < full.ngrams[2], "{pruned:?}");
    assert!(pruned.pruned[2] > 0);
    // Every stored trigram's context is a stored bigram.
    let (bi, _) = &data.ngrams[0];
    let bigrams: std::collections::HashSet<&[u32]> = bi.chunks_exact(2).collect();
    for g in data.ngrams[1].0.chunks_exact(3) {
        assert!(bigrams.contains(&g[..2]), "{g:?}");
    }
}

#[test]
fn the_model_does_not_depend_on_the_thread_count() {
    let docs = corpus();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            encode(
                &train_from_docs(&opts(4, Smoothing::KneserNey), &refs)
                    .unwrap()
                    .0,
            )
        })
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn file_round_trips_and_bad_files_are_named_errors() {
    let docs = corpus();
    let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let (data, _) = train_from_docs(&opts(3, Smoothing::KneserNey), &refs).unwrap();
    let bytes = encode(&data);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.cptlm");
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(decode(&bytes, &path).unwrap(), data);
    let loaded = LmModel::load(&path).unwrap();
    let mem = LmModel::from_data(data, &path).unwrap();
    for d in &refs {
        assert_eq!(loaded.score_text(d), mem.score_text(d));
    }
    let err = |b: &[u8]| {
        std::fs::write(&path, b).unwrap();
        let e = LmModel::load(&path).err().expect("must fail").to_string();
        assert!(e.contains("m.cptlm"), "{e}");
        e
    };
    let mut flipped = bytes.clone();
    let last = flipped.len() - 3;
    flipped[last] ^= 1;
    assert!(err(&flipped).contains("payload checksum"));
    assert!(err(&bytes[..bytes.len() - 10]).contains("truncated"));
    assert!(err(&bytes[..40]).contains("truncated header"));
    assert!(err(b"{\"text\": \"not a model\"}").contains("magic"));
    let mut v2 = bytes.clone();
    v2[8] = 2;
    let h = xxhash_rust::xxh3::xxh3_64(&v2[..88]);
    v2[88..96].copy_from_slice(&h.to_le_bytes());
    assert!(err(&v2).contains("version 2"));
    let mut hdr = bytes.clone();
    hdr[12] ^= 1;
    assert!(err(&hdr).contains("header checksum"));
    let missing = LmModel::load(&dir.path().join("nope.cptlm"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("nope.cptlm"), "{missing}");
}

#[test]
fn unknown_words_and_bad_options() {
    let m = model(
        &TrainOptions {
            min_count: 2,
            ..opts(3, Smoothing::KneserNey)
        },
        &["x y z y", "y y x w"],
    );
    assert_eq!(m.word_id("z"), UNK);
    assert_eq!(m.word_id("never"), UNK);
    assert_ne!(m.word_id("y"), UNK);
    let s = m.score_text("y never z");
    assert_eq!((s.oov, s.tokens), (2, 4));
    assert!(s.perplexity().is_finite());
    for bad in [
        TrainOptions {
            order: 6,
            ..TrainOptions::default()
        },
        TrainOptions {
            min_count: 0,
            ..TrainOptions::default()
        },
    ] {
        assert!(train_from_docs(&bad, &["a b"]).is_err());
    }
    let e = train_from_docs(&opts(3, Smoothing::KneserNey), &["", " !! "])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no words"), "{e}");
}
