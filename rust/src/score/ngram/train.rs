//! Training: a vocabulary pass (word counts, cut by `min_count`), a counting pass (for each
//! position the longest n-gram ending there, up to the order, as KenLM's `lmplz` does), then
//! the lower orders' counts from the higher ones (Kneser-Ney continuation counts: distinct
//! left extensions; raw counts for stupid backoff), count pruning, and estimation order by
//! order, each from the model already built for the orders below it.

use super::grams::{
    count_doc, kn_discounts, log10_f32, lookup, mask, merge_maps, unpack, Gram, Map, BITS,
};
use super::table::Entry;
use super::{ModelData, BOS, LOG_ZERO, MAX_ORDER, MAX_VOCAB, SPECIALS, UNK};
use crate::analysis::Analysis;
use crate::normalize::words;
use crate::vocab::corpus::{expand, for_each_batch, Doc};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// How the model is smoothed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Smoothing {
    /// Interpolated modified Kneser-Ney (three discounts per order), in backoff form.
    KneserNey,
    /// Stupid backoff: relative frequencies, `alpha` per backoff step (not normalized).
    StupidBackoff,
}

impl Smoothing {
    pub fn code(self) -> u8 {
        match self {
            Smoothing::KneserNey => 0,
            Smoothing::StupidBackoff => 1,
        }
    }

    pub fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(Smoothing::KneserNey),
            1 => Some(Smoothing::StupidBackoff),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Smoothing::KneserNey => "kneser-ney",
            Smoothing::StupidBackoff => "stupid-backoff",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Reference corpus: files, directories or globs (JSONL, plain or compressed; Parquet).
    pub inputs: Vec<String>,
    /// The `.cptlm` file to write.
    pub output: PathBuf,
    pub order: usize,
    pub smoothing: Smoothing,
    /// Words seen fewer times become `<unk>`.
    pub min_count: u64,
    /// Count thresholds for orders 2, 3, ...: an n-gram whose count (Kneser-Ney: adjusted
    /// count) is <= the threshold is pruned; the last value repeats; empty = keep all.
    pub prune: Vec<u64>,
    /// Stupid backoff's factor per backoff step.
    pub alpha: f64,
    /// Bound on distinct highest-order n-grams held while counting (0 = none): past it,
    /// those counted once so far are dropped (lossy counting).
    pub max_ngrams: u64,
    pub text_key: String,
    pub threads: Option<usize>,
    /// Documents are read and analysed in batches of about this many bytes of text.
    pub batch_bytes: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            inputs: Vec::new(),
            output: PathBuf::new(),
            order: 3,
            smoothing: Smoothing::KneserNey,
            min_count: 2,
            prune: Vec::new(),
            alpha: 0.4,
            max_ngrams: 0,
            text_key: "text".into(),
            threads: None,
            batch_bytes: 32 << 20,
        }
    }
}

/// What training did (returned, and summarized by `cpt-curate lm train`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    pub output: String,
    pub order: usize,
    pub smoothing: &'static str,
    pub docs: u64,
    pub text_bytes: u64,
    /// Words (without `<s>` / `</s>`).
    pub words: u64,
    /// Word occurrences mapped to `<unk>`.
    pub unk_words: u64,
    /// Vocabulary size, `<unk>`, `<s>` and `</s>` included.
    pub vocab_size: usize,
    /// Stored n-grams per order (1..=N).
    pub ngrams: Vec<u64>,
    /// n-grams pruned per order (1..=N).
    pub pruned: Vec<u64>,
    /// Kneser-Ney discounts D1, D2, D3+ per order (empty for stupid backoff).
    pub discounts: Vec<[f64; 3]>,
    /// Orders whose count-of-counts gave no valid discounts, where 0.5 / 1.0 / 1.5 were used.
    pub discount_fallback: Vec<usize>,
    /// Times the `max_ngrams` bound dropped singletons while counting, and n-grams dropped.
    pub lossy_flushes: u64,
    pub lossy_dropped: u64,
    pub file_bytes: u64,
    /// Memory of the model once loaded (tables and vocabulary), estimated.
    pub loaded_bytes: u64,
    pub threads: usize,
    pub seconds: f64,
    pub mb_per_second: f64,
}

fn check(o: &TrainOptions) -> Result<()> {
    let bad = |m: String| Err(Error::Config(format!("lm train: {m}")));
    if !(1..=MAX_ORDER).contains(&o.order) {
        return bad(format!("order {} is not in 1..={MAX_ORDER}", o.order));
    }
    if o.min_count == 0 {
        return bad("min_count must be >= 1".into());
    }
    if o.smoothing == Smoothing::StupidBackoff && !(o.alpha > 0.0 && o.alpha <= 1.0) {
        return bad(format!("alpha {} is not in (0, 1]", o.alpha));
    }
    if o.batch_bytes == 0 {
        return bad("batch_bytes must be > 0".into());
    }
    Ok(())
}

/// Train from the documents of `opts.inputs` and write `opts.output`.
pub fn train(opts: &TrainOptions) -> Result<TrainReport> {
    check(opts)?;
    let started = Instant::now();
    let files = expand(&opts.inputs)?;
    if files.is_empty() {
        return Err(Error::Config("lm train: no input files".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.unwrap_or(0))
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let threads = pool.current_num_threads();
    let source = |f: &mut dyn FnMut(Vec<Doc>) -> Result<()>| {
        for_each_batch(&files, &opts.text_key, opts.batch_bytes, f)
    };
    let (data, mut report) = pool.install(|| estimate_from(opts, true, source))?;
    let bytes = super::format::encode(&data);
    crate::io::write_atomic(&opts.output, &bytes)?;
    report.file_bytes = bytes.len() as u64;
    report.threads = threads;
    report.seconds = started.elapsed().as_secs_f64();
    report.mb_per_second = report.text_bytes as f64 / 1e6 / report.seconds.max(1e-9);
    report.output = opts.output.to_string_lossy().into_owned();
    Ok(report)
}

/// Train from texts in memory (tests, benchmarks); nothing is written.
pub fn train_from_docs(opts: &TrainOptions, texts: &[&str]) -> Result<(ModelData, TrainReport)> {
    check(opts)?;
    let docs: Vec<Doc> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Doc {
            file: 0,
            line: i as u64 + 1,
            text: (*t).to_string(),
        })
        .collect();
    let mut docs = Some(docs);
    estimate_from(
        opts,
        false,
        |f: &mut dyn FnMut(Vec<Doc>) -> Result<()>| match docs.take() {
            Some(d) => f(d),
            None => Ok(()),
        },
    )
}

/// The two passes over `source`: called twice when `reread` (it must give the same
/// documents each time), else once, its batches kept in memory for the second pass.
fn estimate_from(
    opts: &TrainOptions,
    reread: bool,
    mut source: impl FnMut(&mut dyn FnMut(Vec<Doc>) -> Result<()>) -> Result<()>,
) -> Result<(ModelData, TrainReport)> {
    let n = opts.order;
    // Pass 1: word counts.
    let mut word_counts: HashMap<String, u64> = HashMap::new();
    let (mut docs, mut text_bytes, mut total_words) = (0u64, 0u64, 0u64);
    let mut batches: Vec<Vec<Doc>> = Vec::new();
    let keep_in_memory = !reread;
    source(&mut |batch: Vec<Doc>| {
        docs += batch.len() as u64;
        text_bytes += batch.iter().map(|d| d.text.len() as u64).sum::<u64>();
        let local = batch
            .par_iter()
            .fold(HashMap::<String, u64>::new, |mut m, d| {
                let a = Analysis::new(&d.text, 0);
                for w in words(a.normalized()) {
                    match m.get_mut(w) {
                        Some(c) => *c += 1,
                        None => {
                            m.insert(w.to_owned(), 1);
                        }
                    }
                }
                m
            })
            .reduce(HashMap::new, |a, b| {
                let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
                for (w, c) in small {
                    *big.entry(w).or_insert(0) += c;
                }
                big
            });
        for (w, c) in local {
            total_words += c;
            *word_counts.entry(w).or_insert(0) += c;
        }
        if keep_in_memory {
            batches.push(batch);
        }
        Ok(())
    })?;
    if total_words == 0 {
        return Err(Error::Config(format!(
            "lm train: the corpus ({docs} docs) has no words to train on"
        )));
    }
    let mut kept: Vec<(String, u64)> = word_counts
        .into_iter()
        .filter(|(_, c)| *c >= opts.min_count)
        .collect();
    kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if kept.len() + SPECIALS.len() > MAX_VOCAB {
        return Err(Error::Config(format!(
            "lm train: {} words of count >= {} exceed the vocabulary limit {MAX_VOCAB}; raise min_count",
            kept.len(),
            opts.min_count
        )));
    }
    let mut vocab: Vec<String> = SPECIALS.iter().map(|s| (*s).to_string()).collect();
    vocab.extend(kept.into_iter().map(|(w, _)| w));
    let ids: HashMap<&str, u32> = vocab
        .iter()
        .enumerate()
        .skip(SPECIALS.len())
        .map(|(i, w)| (w.as_str(), i as u32))
        .collect();

    // Pass 2: n-gram counts.
    let mut counts: Vec<Map<u64>> = (0..n).map(|_| Map::default()).collect();
    let (mut unk_words, mut lossy_flushes, mut lossy_dropped) = (0u64, 0u64, 0u64);
    let mut count_batch = |batch: &[Doc]| {
        let (local, unk) = batch
            .par_iter()
            .fold(
                || {
                    (
                        (0..n).map(|_| Map::default()).collect::<Vec<Map<u64>>>(),
                        0u64,
                    )
                },
                |(mut m, mut unk), d| {
                    let a = Analysis::new(&d.text, 0);
                    let seq: Vec<u32> = words(a.normalized())
                        .map(|w| {
                            ids.get(w).copied().unwrap_or_else(|| {
                                unk += 1;
                                UNK
                            })
                        })
                        .collect();
                    count_doc(&seq, n, &mut m);
                    (m, unk)
                },
            )
            .reduce(
                || ((0..n).map(|_| Map::default()).collect(), 0),
                |a, b| (merge_maps(a.0, b.0), a.1 + b.1),
            );
        unk_words += unk;
        counts = merge_maps(std::mem::take(&mut counts), local);
        if opts.max_ngrams > 0 && counts[n - 1].len() as u64 > opts.max_ngrams {
            let before = counts[n - 1].len();
            counts[n - 1].retain(|_, c| *c > 1);
            lossy_flushes += 1;
            lossy_dropped += (before - counts[n - 1].len()) as u64;
        }
    };
    if keep_in_memory {
        for b in &batches {
            count_batch(b);
        }
    } else {
        source(&mut |batch: Vec<Doc>| {
            count_batch(&batch);
            Ok(())
        })?;
    }
    drop(batches);

    // Lower orders from higher ones: raw = sum over left extensions, adj = how many.
    let mut grams: Vec<Map<Gram>> = Vec::with_capacity(n);
    for _ in 0..n {
        grams.push(Map::default());
    }
    for order in (1..=n).rev() {
        let mut m: Map<Gram> = std::mem::take(&mut counts[order - 1])
            .into_iter()
            .map(|(k, c)| {
                let g = Gram {
                    raw: c,
                    adj: c.min(u64::from(u32::MAX)) as u32,
                    ..Gram::default()
                };
                (k, g)
            })
            .collect();
        if order < n {
            let sm = mask(order);
            for (&k, g) in &grams[order] {
                let e = m.entry(k & sm).or_default();
                e.raw += g.raw;
                e.adj = e.adj.saturating_add(1);
            }
        }
        grams[order - 1] = m;
    }
    let v = vocab.len();
    for id in 0..v as u32 {
        grams[0].entry(u128::from(id)).or_default();
    }

    // Pruning, top down; a kept n-gram keeps its context (prefix), which holds its backoff.
    let count_of = |g: &Gram| match opts.smoothing {
        Smoothing::KneserNey => u64::from(g.adj),
        Smoothing::StupidBackoff => g.raw,
    };
    let mut pruned = vec![0u64; n];
    for order in (1..=n).rev() {
        let t = if order == 1 || opts.prune.is_empty() {
            0
        } else {
            opts.prune[(order - 2).min(opts.prune.len() - 1)]
        };
        let mut prefixes = Vec::new();
        for (&k, g) in &mut grams[order - 1] {
            g.keep = g.keep || order == 1 || count_of(g) > t;
            if g.keep {
                if order > 1 {
                    prefixes.push(k >> BITS);
                }
            } else {
                pruned[order - 1] += 1;
            }
        }
        if order > 1 {
            for p in prefixes {
                grams[order - 2].entry(p).or_default().keep = true;
            }
        }
    }

    // Estimation, bottom up.
    let mut discounts = Vec::new();
    let mut discount_fallback = Vec::new();
    let predictable = (v - 1) as f64; // every id but <s>
    for order in 1..=n {
        let d = match opts.smoothing {
            Smoothing::KneserNey => {
                let (d, fallback) = kn_discounts(grams[order - 1].values().map(|g| g.adj));
                if fallback {
                    discount_fallback.push(order);
                }
                discounts.push(d);
                d
            }
            Smoothing::StupidBackoff => [0.0; 3],
        };
        let disc = |c: u32| match c {
            0 => 0.0,
            1 => d[0],
            2 => d[1],
            _ => d[2],
        };
        // Context totals (all n-grams, pruned or not) and the kept n-grams' discounted mass.
        let mut ctx: Map<(f64, f64)> = Map::default();
        for (&k, g) in &grams[order - 1] {
            if order == 1 && k == u128::from(BOS) {
                continue;
            }
            let c = ctx
                .entry(if order == 1 { 0 } else { k >> BITS })
                .or_default();
            c.0 += match opts.smoothing {
                Smoothing::KneserNey => f64::from(g.adj),
                Smoothing::StupidBackoff => g.raw as f64,
            };
        }
        if opts.smoothing == Smoothing::KneserNey {
            for (&k, g) in &grams[order - 1] {
                if !g.keep || (order == 1 && k == u128::from(BOS)) {
                    continue;
                }
                let c = ctx
                    .get_mut(&(if order == 1 { 0 } else { k >> BITS }))
                    .expect("context counted");
                c.1 += (f64::from(g.adj) - disc(g.adj)).max(0.0) / c.0;
            }
        }
        let keys: Vec<u128> = grams[order - 1]
            .iter()
            .filter(|(_, g)| g.keep)
            .map(|(&k, _)| k)
            .collect();
        let mut ids_buf = Vec::with_capacity(order);
        let mut updates: Vec<(u128, f32)> = Vec::with_capacity(keys.len());
        for &k in &keys {
            let g = grams[order - 1][&k];
            if order == 1 && k == u128::from(BOS) {
                updates.push((k, LOG_ZERO));
                continue;
            }
            let cx = ctx[&(if order == 1 { 0 } else { k >> BITS })];
            let p = match opts.smoothing {
                Smoothing::KneserNey => {
                    let u = (f64::from(g.adj) - disc(g.adj)).max(0.0) / cx.0;
                    let gamma = (1.0 - cx.1).max(0.0);
                    let lower = if order == 1 {
                        1.0 / predictable
                    } else {
                        ids_buf.clear();
                        unpack(k, order, &mut ids_buf);
                        10f64.powf(lookup(&grams, &ids_buf[1..]))
                    };
                    u + gamma * lower
                }
                Smoothing::StupidBackoff => {
                    if order == 1 {
                        (g.raw as f64 + 1.0) / (cx.0 + predictable)
                    } else {
                        g.raw as f64 / cx.0
                    }
                }
            };
            updates.push((k, log10_f32(p)));
        }
        for (k, lp) in updates {
            grams[order - 1].get_mut(&k).expect("kept").logp = lp;
        }
        // The contexts' backoffs: Kneser-Ney's gamma = 1 - kept discounted mass; stupid
        // backoff's alpha (applied by the scorer, stored as 0 here).
        if order > 1 && opts.smoothing == Smoothing::KneserNey {
            for (c, (_, u)) in ctx {
                let b = log10_f32((1.0 - u).max(0.0));
                if let Some(e) = grams[order - 2].get_mut(&c) {
                    e.logb = b;
                }
            }
        }
    }

    // Sorted output.
    let mut ngram_counts = vec![v as u64];
    let mut ngrams = Vec::new();
    let unigrams: Vec<Entry> = (0..v as u32)
        .map(|id| {
            let g = grams[0][&u128::from(id)];
            Entry {
                logp: g.logp,
                logb: g.logb,
            }
        })
        .collect();
    for (i, m) in grams.iter().enumerate().skip(1) {
        let order = i + 1;
        let mut kept: Vec<(u128, Entry)> = m
            .iter()
            .filter(|(_, g)| g.keep)
            .map(|(&k, g)| {
                (
                    k,
                    Entry {
                        logp: g.logp,
                        logb: g.logb,
                    },
                )
            })
            .collect();
        kept.sort_unstable_by_key(|e| e.0);
        let mut flat = Vec::with_capacity(kept.len() * order);
        for (k, _) in &kept {
            unpack(*k, order, &mut flat);
        }
        ngram_counts.push(kept.len() as u64);
        ngrams.push((flat, kept.into_iter().map(|e| e.1).collect()));
    }
    let data = ModelData {
        order: n,
        smoothing: opts.smoothing,
        alpha: if opts.smoothing == Smoothing::StupidBackoff {
            opts.alpha
        } else {
            0.0
        },
        vocab,
        unigrams,
        ngrams,
    };
    let loaded_bytes = super::model::estimate_memory(&data) as u64;
    let report = TrainReport {
        output: String::new(),
        order: n,
        smoothing: opts.smoothing.name(),
        docs,
        text_bytes,
        words: total_words,
        unk_words,
        vocab_size: v,
        ngrams: ngram_counts,
        pruned,
        discounts,
        discount_fallback,
        lossy_flushes,
        lossy_dropped,
        file_bytes: 0,
        loaded_bytes,
        threads: rayon::current_num_threads(),
        seconds: 0.0,
        mb_per_second: 0.0,
    };
    Ok((data, report))
}
