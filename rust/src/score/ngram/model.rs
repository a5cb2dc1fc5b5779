//! A loaded model: hash tables per order (`table`), the vocabulary as a table of word
//! hashes, and scoring of normalized text in backoff form.

use super::table::{ngram_key, Collision, Entry, Table};
use super::{decode, ModelData, Smoothing, BOS, EOS, UNK};
use crate::analysis::Analysis;
use crate::normalize::words;
use crate::{Error, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// A hasher for keys that are already hashes.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type VocabMap = HashMap<u64, u32, BuildHasherDefault<Passthrough>>;

/// The score of one text: log10 probability of its words and `</s>`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LmScore {
    pub log10_prob: f64,
    /// Words + 1 (`</s>`).
    pub tokens: u64,
    /// Words not in the vocabulary (scored as `<unk>`).
    pub oov: u64,
}

impl LmScore {
    /// `10^(-log10 p / tokens)`, as KenLM and CCNet report it.
    pub fn perplexity(&self) -> f64 {
        10f64.powf(-self.log10_prob / self.tokens.max(1) as f64)
    }

    /// Cross-entropy in bits per token.
    pub fn bits_per_token(&self) -> f64 {
        -self.log10_prob * std::f64::consts::LOG2_10 / self.tokens.max(1) as f64
    }

    pub fn add(&mut self, o: &LmScore) {
        self.log10_prob += o.log10_prob;
        self.tokens += o.tokens;
        self.oov += o.oov;
    }
}

pub struct LmModel {
    path: PathBuf,
    order: usize,
    smoothing: Smoothing,
    log_alpha: f32,
    seed: u64,
    vocab: VocabMap,
    words: Vec<String>,
    unigrams: Vec<Entry>,
    /// `tables[n - 2]`: order n.
    tables: Vec<Table>,
    ngram_counts: Vec<u64>,
    file_bytes: u64,
}

thread_local! {
    static IDS: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Tables and vocabulary memory of a model built from `d`, in bytes.
pub fn estimate_memory(d: &ModelData) -> usize {
    let tables: usize = d
        .ngrams
        .iter()
        .map(|(_, e)| 16 * ((e.len() * 5 / 3) + 1).next_power_of_two().max(2))
        .sum();
    let vocab: usize = d.vocab.iter().map(|w| w.len() + 24 + 16 * 2).sum();
    tables + vocab + d.unigrams.len() * 8
}

impl LmModel {
    /// Load and check a `.cptlm` file; a missing, truncated, corrupt or other-version file is
    /// an error naming it.
    pub fn load(path: &Path) -> Result<LmModel> {
        let bytes = crate::io::read_all(path)?;
        let data = decode(&bytes, path)?;
        let mut m = Self::from_data(data, path)?;
        m.file_bytes = bytes.len() as u64;
        Ok(m)
    }

    /// Build the lookup tables (reseeding until no two keys of a table collide).
    pub fn from_data(d: ModelData, path: &Path) -> Result<LmModel> {
        for seed in 0..64u64 {
            if let Ok((vocab, tables)) = Self::build(&d, seed) {
                let ngram_counts = std::iter::once(d.vocab.len() as u64)
                    .chain(d.ngrams.iter().map(|(_, e)| e.len() as u64))
                    .collect();
                return Ok(LmModel {
                    path: path.to_path_buf(),
                    order: d.order,
                    smoothing: d.smoothing,
                    log_alpha: if d.smoothing == Smoothing::StupidBackoff {
                        d.alpha.log10() as f32
                    } else {
                        0.0
                    },
                    seed,
                    vocab,
                    words: d.vocab,
                    unigrams: d.unigrams,
                    tables,
                    ngram_counts,
                    file_bytes: 0,
                });
            }
        }
        Err(Error::Corrupt {
            path: path.to_path_buf(),
            msg: "duplicate n-grams or vocabulary words (no hash seed separates them)".into(),
        })
    }

    fn build(d: &ModelData, seed: u64) -> std::result::Result<(VocabMap, Vec<Table>), Collision> {
        let mut vocab = VocabMap::default();
        vocab.reserve(d.vocab.len());
        for (id, w) in d.vocab.iter().enumerate().skip(3) {
            if vocab
                .insert(xxh3_64_with_seed(w.as_bytes(), seed), id as u32)
                .is_some()
            {
                return Err(Collision);
            }
        }
        let mut tables = Vec::new();
        for (i, (ids, entries)) in d.ngrams.iter().enumerate() {
            let n = i + 2;
            let mut t = Table::with_capacity(entries.len());
            for (g, e) in ids.chunks_exact(n).zip(entries) {
                t.insert(ngram_key(g, seed), *e)?;
            }
            tables.push(t);
        }
        Ok((vocab, tables))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn order(&self) -> usize {
        self.order
    }

    pub fn smoothing(&self) -> Smoothing {
        self.smoothing
    }

    pub fn vocab_size(&self) -> usize {
        self.words.len()
    }

    /// Stored n-grams per order (1..=N).
    pub fn ngram_counts(&self) -> &[u64] {
        &self.ngram_counts
    }

    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    pub fn memory_bytes(&self) -> usize {
        self.tables.iter().map(Table::memory_bytes).sum::<usize>()
            + self
                .words
                .iter()
                .map(|w| w.len() + 24 + 16 * 2)
                .sum::<usize>()
            + self.unigrams.len() * 8
    }

    /// The id of a normalized word (`<unk>` = 0 when unknown).
    #[inline]
    pub fn word_id(&self, w: &str) -> u32 {
        self.vocab
            .get(&xxh3_64_with_seed(w.as_bytes(), self.seed))
            .copied()
            .unwrap_or(UNK)
    }

    pub fn word(&self, id: u32) -> &str {
        &self.words[id as usize]
    }

    #[inline(always)]
    fn get(&self, ids: &[u32]) -> Option<Entry> {
        if ids.len() == 1 {
            Some(self.unigrams[ids[0] as usize])
        } else {
            self.tables[ids.len() - 2].get(ngram_key(ids, self.seed))
        }
    }

    /// log10 p(w | context), the context's last `order - 1` ids used (no sentence start is
    /// added: pass `BOS` first for one).
    pub fn log10_prob(&self, context: &[u32], w: u32) -> f64 {
        let k = context.len().min(self.order - 1);
        let mut seq: Vec<u32> = context[context.len() - k..].to_vec();
        seq.push(w);
        self.score_at(&seq, seq.len() - 1, k).0
    }

    /// log10 p(seq[i] | up to `max_hist` ids before it) and the length of the n-gram found.
    #[inline(always)]
    fn score_at(&self, seq: &[u32], i: usize, max_hist: usize) -> (f64, usize) {
        let mut bo = 0f32;
        for h in (1..=max_hist).rev() {
            let Some(hist) = self.get(&seq[i - h..i]) else {
                continue;
            };
            if let Some(e) = self.get(&seq[i - h..=i]) {
                return (f64::from(e.logp + bo), h + 1);
            }
            bo += hist.logb;
        }
        (f64::from(self.unigrams[seq[i] as usize].logp + bo), 1)
    }

    /// Score an id sequence as one sentence `<s> ids.. </s>`.
    pub fn score_ids(&self, ids: &[u32]) -> LmScore {
        let mut seq = Vec::with_capacity(ids.len() + 2);
        seq.push(BOS);
        seq.extend_from_slice(ids);
        seq.push(EOS);
        self.score_seq(&seq)
    }

    fn score_seq(&self, seq: &[u32]) -> LmScore {
        let top = self.order - 1;
        let mut total = 0f64;
        // Longest n-gram found ending at the previous position: a longer history is absent.
        let mut state = 1usize;
        for i in 1..seq.len() {
            let full = top.min(i);
            let max_hist = full.min(state);
            let (lp, len) = self.score_at(seq, i, max_hist);
            total += lp;
            if self.smoothing == Smoothing::StupidBackoff {
                // alpha for every step down from the full order, the skipped ones included.
                total += f64::from(self.log_alpha) * (full + 1 - len) as f64;
            }
            state = len;
        }
        LmScore {
            log10_prob: total,
            tokens: (seq.len() - 1) as u64,
            oov: 0,
        }
    }

    /// Score an already normalized text (`crate::normalize::normalize`).
    pub fn score_normalized(&self, normalized: &str) -> LmScore {
        IDS.with_borrow_mut(|seq| {
            seq.clear();
            seq.push(BOS);
            let mut oov = 0;
            for w in words(normalized) {
                let id = self.word_id(w);
                oov += u64::from(id == UNK);
                seq.push(id);
            }
            seq.push(EOS);
            let mut s = self.score_seq(seq);
            s.oov = oov;
            s
        })
    }

    /// Score a raw text (normalized as the shared analysis does).
    pub fn score_text(&self, text: &str) -> LmScore {
        self.score_normalized(Analysis::new(text, 0).normalized())
    }
}
