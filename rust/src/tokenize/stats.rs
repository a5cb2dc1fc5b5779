//! Tokenizer efficiency statistics: characters per token, tokens per word (fertility), and the
//! frequent words the tokenizer splits into the most pieces. A word is a run of letters or digits.

use super::setup::TokenizerSetup;
use serde::Serialize;
use std::collections::HashMap;

/// Characters and words of one text.
pub fn count_chars_words(text: &str) -> (u64, u64) {
    let (mut chars, mut words, mut in_word) = (0u64, 0u64, false);
    for c in text.chars() {
        chars += 1;
        let alnum = if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else {
            c.is_alphanumeric()
        };
        if alnum && !in_word {
            words += 1;
        }
        in_word = alnum;
    }
    (chars, words)
}

/// Add the words of `text` to a frequency table.
pub fn count_words(text: &str, freq: &mut HashMap<String, u64>) {
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if let Some(n) = freq.get_mut(w) {
            *n += 1;
        } else {
            freq.insert(w.to_owned(), 1);
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FragmentedWord {
    pub word: String,
    pub count: u64,
    pub pieces: u64,
    pub tokens: Vec<String>,
}

/// The `top` words with the largest frequency x pieces among the `candidates` most frequent
/// words that the tokenizer splits (as a word in running text, after a space). Ties break by
/// word, so the list does not depend on hash order or thread count.
pub fn most_fragmented(
    setup: &TokenizerSetup,
    freq: &HashMap<String, u64>,
    candidates: usize,
    top: usize,
) -> Vec<FragmentedWord> {
    // Digit runs are split on purpose by many tokenizers (one token per digit): not a finding.
    let mut by_freq: Vec<(&String, u64)> = freq
        .iter()
        .filter(|(w, _)| !w.chars().all(|c| c.is_numeric()))
        .map(|(w, &n)| (w, n))
        .collect();
    by_freq.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    by_freq.truncate(candidates);
    let mut scored: Vec<FragmentedWord> = by_freq
        .into_iter()
        .filter_map(|(w, count)| {
            let enc = setup.tokenizer.encode_fast(format!(" {w}"), false).ok()?;
            let pieces = enc.get_ids().len() as u64;
            (pieces > 1).then(|| FragmentedWord {
                word: w.clone(),
                count,
                pieces,
                tokens: enc
                    .get_ids()
                    .iter()
                    .map(|&id| setup.tokenizer.id_to_token(id).unwrap_or_default())
                    .collect(),
            })
        })
        .collect();
    scored.sort_by(|a, b| {
        (b.count * b.pieces)
            .cmp(&(a.count * a.pieces))
            .then_with(|| a.word.cmp(&b.word))
    });
    scored.truncate(top);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_chars_and_words() {
        assert_eq!(count_chars_words("Hello, wörld 42!"), (16, 3));
        assert_eq!(count_chars_words(""), (0, 0));
        let mut f = HashMap::new();
        count_words("a b a, c-a", &mut f);
        assert_eq!(f["a"], 3);
        assert_eq!(f["c"], 1);
    }
}
