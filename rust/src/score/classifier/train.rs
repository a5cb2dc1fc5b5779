//! Training (seeded SGD on class-balanced logistic loss, one thread: the same inputs give
//! the same model bytes) and held-out evaluation (precision, recall, AUC).

use super::model::{sigmoid, splitmix, FeatureConfig, Model};
use crate::input::{expand_inputs, for_each_text, DEFAULT_TEXT_KEY};
use crate::{Error, Result};
use rayon::prelude::*;
use std::time::Instant;

/// A document's sparse features: (bucket, value), sorted by bucket.
type Sparse = Vec<(u32, f32)>;

/// Training options (`cpt-curate classifier train`).
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub features: FeatureConfig,
    pub epochs: u32,
    pub learning_rate: f64,
    /// L2 penalty per update.
    pub l2: f64,
    /// Shuffle seed.
    pub seed: u64,
    pub threads: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            features: FeatureConfig::default(),
            epochs: 10,
            learning_rate: 0.5,
            l2: 1e-6,
            seed: 1,
            threads: 0,
        }
    }
}

/// What training did (printed by the CLI, returned to Python).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    pub positives: u64,
    pub negatives: u64,
    pub bytes: u64,
    pub feature_seconds: f64,
    pub train_seconds: f64,
    pub total_seconds: f64,
    pub mb_per_s: f64,
    pub train_accuracy: f64,
    pub features: String,
    pub epochs: u32,
}

/// The texts of `patterns` (files, directories, globs), in input order; none is an error.
fn read_texts(patterns: &[String]) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    for input in &expand_inputs(patterns, None)? {
        for_each_text(&input.path, DEFAULT_TEXT_KEY, |_, t| {
            texts.push(t);
            Ok(())
        })?;
    }
    if texts.is_empty() {
        return Err(Error::Config(format!(
            "no documents in {}",
            patterns.join(", ")
        )));
    }
    Ok(texts)
}

/// The documents of `patterns` as feature vectors, in input order (feature extraction in
/// parallel), and their text bytes.
fn featurize(patterns: &[String], f: &FeatureConfig) -> Result<(Vec<Sparse>, u64)> {
    let texts = read_texts(patterns)?;
    let bytes = texts.iter().map(|t| t.len() as u64).sum();
    let feats = texts
        .par_iter()
        .map(|t| {
            let mut v = Vec::new();
            f.features(&crate::normalize::normalize(t), &mut v);
            v
        })
        .collect();
    Ok((feats, bytes))
}

/// Train on positive (domain) and negative (general) documents.
pub fn train(
    positive: &[String],
    negative: &[String],
    o: &TrainOptions,
) -> Result<(Model, TrainReport)> {
    o.features
        .check()
        .map_err(|e| Error::Config(format!("classifier features: {e}")))?;
    if o.epochs == 0
        || o.learning_rate.is_nan()
        || o.learning_rate <= 0.0
        || o.l2.is_nan()
        || o.l2 < 0.0
    {
        return Err(Error::Config(
            "classifier: epochs must be > 0, learning rate > 0 and l2 >= 0".into(),
        ));
    }
    let started = Instant::now();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(o.threads)
        .build()
        .map_err(|e| Error::Config(format!("threads: {e}")))?;
    let ((pos, pos_bytes), (neg, neg_bytes)) = pool.install(|| {
        Ok::<_, Error>((
            featurize(positive, &o.features)?,
            featurize(negative, &o.features)?,
        ))
    })?;
    let feature_seconds = started.elapsed().as_secs_f64();
    let t = Instant::now();
    let n = pos.len() + neg.len();
    // Each class weighs as much as the other in the loss.
    let w_pos = n as f64 / (2.0 * pos.len() as f64);
    let w_neg = n as f64 / (2.0 * neg.len() as f64);
    // (features, label, class weight)
    let mut examples: Vec<(&Sparse, f64, f64)> = pos
        .iter()
        .map(|x| (x, 1.0, w_pos))
        .chain(neg.iter().map(|x| (x, 0.0, w_neg)))
        .collect();
    let mut weights = vec![0.0f64; 1 << o.features.bits];
    let mut bias = 0.0f64;
    let mut rng = o.seed;
    let total = (o.epochs as usize * n) as f64;
    let mut step = 0usize;
    for _ in 0..o.epochs {
        // Fisher-Yates with splitmix64: the same order for the same seed.
        for i in (1..examples.len()).rev() {
            rng = splitmix(rng);
            let j = (rng % (i as u64 + 1)) as usize;
            examples.swap(i, j);
        }
        for &(x, y, w) in &examples {
            let lr = o.learning_rate * (1.0 - step as f64 / total).max(1e-4);
            step += 1;
            let mut z = bias;
            for &(i, v) in x {
                z += weights[i as usize] * f64::from(v);
            }
            let g = (sigmoid(z) - y) * w;
            bias -= lr * g;
            for &(i, v) in x {
                let wi = &mut weights[i as usize];
                *wi -= lr * (g * f64::from(v) + o.l2 * *wi);
            }
        }
    }
    let model = Model {
        features: o.features,
        positives: pos.len() as u64,
        negatives: neg.len() as u64,
        epochs: o.epochs,
        bias: bias as f32,
        weights: weights.iter().map(|&w| w as f32).collect(),
    };
    let train_seconds = t.elapsed().as_secs_f64();
    let correct = examples
        .iter()
        .filter(|(x, y, _)| {
            let mut z = f64::from(model.bias);
            for &(i, v) in *x {
                z += f64::from(model.weights[i as usize]) * f64::from(v);
            }
            (sigmoid(z) >= 0.5) == (*y > 0.5)
        })
        .count();
    let total_seconds = started.elapsed().as_secs_f64();
    let bytes = pos_bytes + neg_bytes;
    let report = TrainReport {
        positives: model.positives,
        negatives: model.negatives,
        bytes,
        feature_seconds,
        train_seconds,
        total_seconds,
        mb_per_s: bytes as f64 / 1e6 / total_seconds.max(1e-9),
        train_accuracy: correct as f64 / n as f64,
        features: o.features.describe(),
        epochs: o.epochs,
    };
    Ok((model, report))
}

/// Held-out quality of a model: precision, recall and AUC of `positive` vs `negative`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    pub positives: u64,
    pub negatives: u64,
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub auc: f64,
    pub seconds: f64,
    pub mb_per_s: f64,
}

pub fn evaluate(
    model: &Model,
    positive: &[String],
    negative: &[String],
    threshold: f64,
) -> Result<EvalReport> {
    let t = Instant::now();
    let score = |patterns: &[String]| -> Result<(Vec<f64>, u64)> {
        let texts = read_texts(patterns)?;
        let bytes = texts.iter().map(|t| t.len() as u64).sum();
        Ok((texts.par_iter().map(|t| model.score(t)).collect(), bytes))
    };
    let (p, pb) = score(positive)?;
    let (n, nb) = score(negative)?;
    let tp = p.iter().filter(|&&s| s >= threshold).count() as f64;
    let fp = n.iter().filter(|&&s| s >= threshold).count() as f64;
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if p.is_empty() {
        0.0
    } else {
        tp / p.len() as f64
    };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    // AUC: the probability that a positive outscores a negative (ties count half).
    let mut wins = 0.0;
    for a in &p {
        for b in &n {
            wins += match a.total_cmp(b) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    let auc = wins / (p.len() as f64 * n.len() as f64).max(1.0);
    let seconds = t.elapsed().as_secs_f64();
    Ok(EvalReport {
        positives: p.len() as u64,
        negatives: n.len() as u64,
        threshold,
        precision,
        recall,
        f1,
        auc,
        seconds,
        mb_per_s: (pb + nb) as f64 / 1e6 / seconds.max(1e-9),
    })
}
