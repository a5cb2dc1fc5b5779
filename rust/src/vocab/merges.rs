//! Continued BPE training: starting from each distinct word's pieces under the base merges,
//! repeatedly merge the most frequent adjacent pair (counts weighted by word frequency) into a
//! new token appended after the existing ids.
//!
//! Every base merge ranks before every new one, and a new merge never yields a base token, so
//! at encode time the base merges run to completion first and then the new ones apply in the
//! order learned here: the encoding this simulation assumes is exactly the one the extended
//! tokenizer produces. Ties break by the smaller (left id, right id), so the result depends only
//! on the word counts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

type Pair = (u32, u32);

/// The spellings a merge may produce or must avoid.
pub struct TokenTable {
    /// The string of every model token: base ones, then new ones as they are learned.
    pub strings: HashMap<u32, String>,
    /// Every spelling taken: base vocabulary, added tokens and new tokens.
    pub ids: HashMap<String, u32>,
    /// The first new id; every id below it belongs to the base tokenizer.
    pub first_new: u32,
    pub next_id: u32,
}

/// One learned merge: `left right -> id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub left: u32,
    pub right: u32,
    pub id: u32,
    /// Occurrences of the pair in the corpus (weighted by word frequency) when it was merged.
    pub count: u64,
    /// False when the result is a new token an earlier merge already made.
    pub new_token: bool,
}

/// The outcome of training.
pub struct Training {
    pub merges: Vec<Learned>,
    pub new_tokens: usize,
    /// Frequent pairs skipped because their concatenation is already a base or added token.
    pub skipped_base_spelling: usize,
    /// Why training ended before `want` new tokens, if it did.
    pub stopped_early: Option<String>,
}

/// Learn merges until `want` new tokens exist or no pair occurs `min_frequency` times.
pub fn learn(
    mut words: Vec<Vec<u32>>,
    counts: &[u64],
    table: &mut TokenTable,
    want: usize,
    min_frequency: u64,
    protected: HashSet<Pair>,
) -> Training {
    let mut pair_counts: HashMap<Pair, i64> = HashMap::new();
    let mut where_: HashMap<Pair, HashSet<usize>> = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        for p in w.windows(2) {
            let pair = (p[0], p[1]);
            *pair_counts.entry(pair).or_insert(0) += counts[i] as i64;
            where_.entry(pair).or_default().insert(i);
        }
    }
    // Entries are (count, pair); an entry whose count is no longer the pair's is stale and
    // dropped when popped (a fresh one was pushed when the count changed).
    let mut heap: BinaryHeap<(u64, Reverse<Pair>)> = pair_counts
        .iter()
        .map(|(&p, &c)| (c as u64, Reverse(p)))
        .collect();
    // Protected pairs (adjacent in some protected word) are never merged, so those words keep
    // their base encoding.
    let mut blocked: HashSet<Pair> = protected;
    let mut out = Training {
        merges: Vec::new(),
        new_tokens: 0,
        skipped_base_spelling: 0,
        stopped_early: None,
    };
    while out.new_tokens < want {
        let Some((count, Reverse(pair))) = heap.pop() else {
            out.stopped_early = Some("no adjacent pair is left to merge".into());
            break;
        };
        if pair_counts.get(&pair).copied().unwrap_or(0) != count as i64 || blocked.contains(&pair) {
            continue;
        }
        if count < min_frequency.max(1) {
            out.stopped_early = Some(format!(
                "no remaining pair occurs at least {} times (min_frequency)",
                min_frequency.max(1)
            ));
            break;
        }
        let merged = format!("{}{}", table.strings[&pair.0], table.strings[&pair.1]);
        let (id, new_token) = match table.ids.get(&merged) {
            Some(&id) if id < table.first_new => {
                // A base token spelled this way has its own merge path; producing it here would
                // let base merges fire after new ones and change what old text means.
                blocked.insert(pair);
                out.skipped_base_spelling += 1;
                continue;
            }
            Some(&id) => (id, false),
            None => {
                let id = table.next_id;
                table.next_id += 1;
                table.ids.insert(merged.clone(), id);
                table.strings.insert(id, merged);
                (id, true)
            }
        };
        out.new_tokens += usize::from(new_token);
        out.merges.push(Learned {
            left: pair.0,
            right: pair.1,
            id,
            count,
            new_token,
        });
        apply(
            pair,
            id,
            &mut words,
            counts,
            &mut pair_counts,
            &mut where_,
            &mut heap,
        );
    }
    out
}

/// Merge `pair` into `id` in every word holding it, updating pair counts, positions and heap.
fn apply(
    pair: Pair,
    id: u32,
    words: &mut [Vec<u32>],
    counts: &[u64],
    pair_counts: &mut HashMap<Pair, i64>,
    where_: &mut HashMap<Pair, HashSet<usize>>,
    heap: &mut BinaryHeap<(u64, Reverse<Pair>)>,
) {
    let mut positions: Vec<usize> = where_
        .remove(&pair)
        .unwrap_or_default()
        .into_iter()
        .collect();
    positions.sort_unstable();
    let mut delta: HashMap<Pair, i64> = HashMap::new();
    for i in positions {
        let Some(merged) = merge_word(&words[i], pair, id) else {
            continue; // an earlier merge already consumed this word's occurrences
        };
        let c = counts[i] as i64;
        for p in words[i].windows(2) {
            *delta.entry((p[0], p[1])).or_insert(0) -= c;
        }
        for p in merged.windows(2) {
            let q = (p[0], p[1]);
            *delta.entry(q).or_insert(0) += c;
            if q.0 == id || q.1 == id {
                where_.entry(q).or_default().insert(i);
            }
        }
        words[i] = merged;
    }
    for (q, d) in delta {
        if d == 0 {
            continue;
        }
        let c = pair_counts.entry(q).or_insert(0);
        *c += d;
        if *c > 0 {
            heap.push((*c as u64, Reverse(q)));
        }
    }
}

/// `word` with every non-overlapping occurrence of `pair` (left to right) replaced by `id`, or
/// `None` if it has none.
fn merge_word(word: &[u32], pair: Pair, id: u32) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    let mut changed = false;
    while i < word.len() {
        if i + 1 < word.len() && word[i] == pair.0 && word[i + 1] == pair.1 {
            out.push(id);
            i += 2;
            changed = true;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(chars: &str) -> TokenTable {
        let strings: HashMap<u32, String> = chars
            .chars()
            .enumerate()
            .map(|(i, c)| (i as u32, c.to_string()))
            .collect();
        let ids = strings.iter().map(|(&i, s)| (s.clone(), i)).collect();
        let n = strings.len() as u32;
        TokenTable {
            strings,
            ids,
            first_new: n,
            next_id: n,
        }
    }

    fn spell(t: &TokenTable, ids: &[u32]) -> Vec<String> {
        ids.iter().map(|i| t.strings[i].clone()).collect()
    }

    #[test]
    fn merges_the_most_frequent_pair_first_and_breaks_ties_by_ids() {
        // a=0 b=1 c=2 d=3; "ab" x5, "cd" x5, "abc" x1: ab occurs 6 times, cd 5.
        let mut t = table("abcd");
        let words = vec![vec![0, 1], vec![2, 3], vec![0, 1, 2]];
        let r = learn(words, &[5, 5, 1], &mut t, 3, 2, HashSet::new());
        let got: Vec<(String, u64)> = r
            .merges
            .iter()
            .map(|m| (t.strings[&m.id].clone(), m.count))
            .collect();
        assert_eq!(got, [("ab".to_string(), 6), ("cd".to_string(), 5)]);
        assert_eq!(r.new_tokens, 2);
        assert!(r.stopped_early.unwrap().contains("min_frequency"));
        assert_eq!(spell(&t, &[4, 5]), ["ab", "cd"]);
    }

    #[test]
    fn repeated_symbols_merge_left_to_right_without_overlap() {
        assert_eq!(merge_word(&[0, 0, 0], (0, 0), 9), Some(vec![9, 0]));
        assert_eq!(merge_word(&[0, 0, 0, 0], (0, 0), 9), Some(vec![9, 9]));
        assert_eq!(merge_word(&[1, 0], (0, 1), 9), None);
        let mut t = table("a");
        let r = learn(vec![vec![0, 0, 0, 0]], &[3], &mut t, 2, 2, HashSet::new());
        // (a, a) occurs 3 x 3 times; each word becomes [aa, aa], whose pair occurs 3 times.
        assert_eq!(spell(&t, &[1, 2]), ["aa", "aaaa"]);
        assert_eq!(r.merges[1].count, 3);
    }

    #[test]
    fn never_produces_a_base_spelling() {
        // "ab" is a base token reached another way: the pair (a, b) must be skipped.
        let mut t = table("abc");
        t.strings.insert(3, "ab".into());
        t.ids.insert("ab".into(), 3);
        t.first_new = 4;
        t.next_id = 4;
        let words = vec![vec![0, 1], vec![0, 1], vec![1, 2]];
        let r = learn(words, &[4, 4, 3], &mut t, 1, 2, HashSet::new());
        assert_eq!(r.skipped_base_spelling, 1);
        assert_eq!(spell(&t, &[r.merges[0].id]), ["bc"]);
        assert_eq!(r.merges[0].id, 4);
    }

    #[test]
    fn protected_pairs_are_never_merged() {
        let mut t = table("abc");
        let protected = HashSet::from([(0, 1)]);
        let r = learn(vec![vec![0, 1, 2]], &[9], &mut t, 1, 2, protected);
        assert_eq!(spell(&t, &[r.merges[0].id]), ["bc"]);
    }

    #[test]
    fn same_result_whatever_the_word_order() {
        let words = vec![vec![0, 1, 2, 3], vec![2, 3, 0], vec![1, 2], vec![3, 3, 3]];
        let counts = [3, 4, 2, 5];
        let mut t1 = table("abcd");
        let r1 = learn(words.clone(), &counts, &mut t1, 5, 1, HashSet::new());
        let mut rev = words.clone();
        rev.reverse();
        let mut rc = counts;
        rc.reverse();
        let mut t2 = table("abcd");
        let r2 = learn(rev, &rc, &mut t2, 5, 1, HashSet::new());
        assert_eq!(r1.merges, r2.merges);
    }
}
