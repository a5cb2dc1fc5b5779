//! Vocabulary extension end to end: old ids keep their meaning, text without new merges encodes
//! as before, the output does not depend on the thread count, training from an empty merge list
//! reproduces the `tokenizers` BPE trainer, and bad inputs get clear errors.

mod shared_data;
use cpt_engine::cli::main_with_args;
use cpt_engine::vocab::{extend, ExtendOptions, REPORT_FILE, TOKENIZER_FILE};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::BpeTrainerBuilder;
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// `shared/data/<rel>` through the one locator of the integration tests; these tests have no
/// skip path, so they fail without the data even when the opt-out is set.
fn shared(rel: &str) -> PathBuf {
    let p = shared_data::path(rel)
        .unwrap_or_else(|| panic!("shared data {rel} is needed by the vocabulary tests"));
    assert!(p.is_file(), "{} is not a file", p.display());
    p
}

fn smollm2() -> PathBuf {
    shared("tokenizers/smollm2-135m.tokenizer.json")
}

/// The texts of the first `n` documents of a shared JSONL file.
fn first_texts(rel: &str, n: usize) -> Vec<String> {
    let mut texts = Vec::new();
    cpt_engine::input::for_each_text(&shared(rel), "text", |_, text| {
        if texts.len() < n {
            texts.push(text);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(texts.len(), n, "{rel} has fewer than {n} documents");
    texts
}

fn write_jsonl(path: &Path, texts: &[String]) -> String {
    let mut f = std::fs::File::create(path).unwrap();
    for (i, t) in texts.iter().enumerate() {
        writeln!(f, "{}", serde_json::json!({"id": i, "text": t})).unwrap();
    }
    path.to_string_lossy().into_owned()
}

fn options(tok: &Path, inputs: Vec<String>, out: &Path, n: usize) -> ExtendOptions {
    ExtendOptions {
        tokenizer: tok.to_path_buf(),
        inputs,
        output: out.to_path_buf(),
        new_tokens: n,
        batch_bytes: 200_000,
        ..ExtendOptions::default()
    }
}

#[test]
fn extension_keeps_old_ids_and_old_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let domain = write_jsonl(
        &dir.path().join("licenses.jsonl"),
        &first_texts("domain/licenses-train.jsonl.zst", 300),
    );
    let general = write_jsonl(
        &dir.path().join("speeches.jsonl"),
        &first_texts("general/sotu-heldout.jsonl.zst", 8),
    );
    let out = dir.path().join("ext");
    let mut opts = options(&smollm2(), vec![domain.clone()], &out, 200);
    opts.eval_general = vec![general];
    let r = extend(&opts).unwrap();
    assert_eq!((r.learned, r.requested), (200, 200));
    assert_eq!(r.first_new_id, 49_152);
    assert_eq!(r.vocab_size_after, 49_152 + 200);
    assert!(r.old_ids_unchanged && r.old_ids_checked == 49_152);

    let base = Tokenizer::from_file(smollm2()).unwrap();
    let ext = Tokenizer::from_file(out.join(TOKENIZER_FILE)).unwrap();
    for (tok, id) in base.get_vocab(true) {
        assert_eq!(ext.token_to_id(&tok), Some(id), "{tok:?}");
    }
    // The listed new tokens are the vocabulary's ids 49152.. with their pieces and counts.
    assert_eq!(r.new_tokens.len(), 200);
    for (k, t) in r.new_tokens.iter().enumerate() {
        assert_eq!(t.id, 49_152 + k as u32);
        assert_eq!(ext.id_to_token(t.id).as_deref(), Some(t.token.as_str()));
        assert_eq!(t.pieces.concat(), t.token);
        assert!(t.pieces.len() >= 2 && t.count >= 2, "{t:?}");
    }
    // Counts of successive merges never increase (each merge takes the current best pair).
    assert!(r.new_tokens.windows(2).all(|w| w[0].count >= w[1].count));

    for s in [&r.domain, r.general.as_ref().unwrap()] {
        assert_eq!(s.changed_without_new_token, 0);
        assert_eq!(s.round_trip_failures_after, 0);
        assert!(s.tokens_after <= s.tokens_before);
    }
    assert!(r.domain_is_training_corpus);
    assert!(r.domain.token_reduction > 0.02, "{:?}", r.domain);
    assert!(r.domain.new_token_uses > 0 && r.domain.docs_changed > 0);

    // A text whose words have no new merge encodes exactly as before; domain words do not.
    // (No digits: the licenses teach merges such as " 1", which SmolLM2 never had.)
    let plain = "The quick brown fox jumps over the lazy dog, said the President.";
    assert_eq!(
        base.encode(plain, false).unwrap().get_ids(),
        ext.encode(plain, false).unwrap().get_ids()
    );
    let top = &r.new_tokens[0];
    let with = format!("Some text: {}", top.text);
    let ids = ext.encode(with.as_str(), false).unwrap().get_ids().to_vec();
    assert!(ids.contains(&top.id), "{with:?} -> {ids:?}");
    assert_eq!(ext.decode(&ids, false).unwrap(), with);

    // The report on disk is the one returned.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(REPORT_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk["learned"], 200);
    assert_eq!(on_disk["tokenizer_hash"], r.tokenizer_hash.as_str());
}

#[test]
fn output_is_the_same_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let domain = write_jsonl(
        &dir.path().join("licenses.jsonl"),
        &first_texts("domain/licenses-train.jsonl.zst", 120),
    );
    let mut outs = Vec::new();
    for threads in [1, 2, 3] {
        let out = dir.path().join(format!("ext{threads}"));
        let mut opts = options(&smollm2(), vec![domain.clone()], &out, 150);
        opts.threads = Some(threads);
        opts.batch_bytes = 10_000 * threads; // batching must not matter either
        extend(&opts).unwrap();
        outs.push(std::fs::read(out.join(TOKENIZER_FILE)).unwrap());
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
}

/// A byte-level BPE with the 256 byte characters (ids in character order) and no merges.
fn alphabet_only(path: &Path) {
    let mut chars: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    chars.sort_unstable();
    let vocab: serde_json::Map<String, serde_json::Value> = chars
        .iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), i.into()))
        .collect();
    let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false,
        "trim_offsets": true, "use_regex": true});
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
            "byte_fallback": false, "ignore_merges": false, "vocab": vocab, "merges": []}
    });
    std::fs::write(path, serde_json::to_vec(&tok).unwrap()).unwrap();
}

/// Continuing from a base with no merges is plain BPE training: the merges must be those of
/// the `tokenizers` crate's own trainer on the same corpus (same tie-break: smaller pair ids).
#[test]
fn from_an_empty_merge_list_it_matches_the_tokenizers_trainer() {
    let dir = tempfile::tempdir().unwrap();
    let texts = first_texts("domain/licenses-train.jsonl.zst", 60);
    let domain = write_jsonl(&dir.path().join("c.jsonl"), &texts);
    let base = dir.path().join("alphabet.json");
    alphabet_only(&base);
    let out = dir.path().join("ext");
    let n = 400;
    let r = extend(&options(&base, vec![domain], &out, n)).unwrap();
    assert_eq!(r.learned, n);
    let ours: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(TOKENIZER_FILE)).unwrap()).unwrap();

    let mut hf = Tokenizer::from_file(&base).unwrap();
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(256 + n)
        .min_frequency(2)
        .initial_alphabet(alphabet.into_iter().collect())
        .show_progress(false)
        .special_tokens(Vec::<AddedToken>::new())
        .build()
        .into();
    // One document per training sequence, exactly as the extension reads it.
    hf.train(&mut trainer, texts.iter().map(String::as_str))
        .unwrap();
    let theirs: serde_json::Value = serde_json::from_str(&hf.to_string(false).unwrap()).unwrap();
    let merges = |v: &serde_json::Value| v["model"]["merges"].as_array().unwrap().clone();
    let (a, b) = (merges(&ours), merges(&theirs));
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
    assert_eq!(ours["model"]["vocab"], theirs["model"]["vocab"]);
}

#[test]
fn unsupported_tokenizer_types_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_jsonl(&dir.path().join("c.jsonl"), &["a b".to_string()]);
    let cases = [
        (
            r#"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,
               "post_processor":null,"decoder":null,"truncation":null,"padding":null,
               "model":{"type":"Unigram","unk_id":0,"vocab":[["<unk>",0.0],["a",-1.0]],"byte_fallback":false}}"#,
            "Unigram",
        ),
        (
            r###"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,
               "post_processor":null,"decoder":null,"truncation":null,"padding":null,
               "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
               "max_input_chars_per_word":100,"vocab":{"[UNK]":0,"a":1}}}"###,
            "WordPiece",
        ),
        (
            r#"{"version":"1.0","added_tokens":[],"normalizer":null,
               "pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
               "post_processor":null,"decoder":null,"truncation":null,"padding":null,
               "model":{"type":"BPE","dropout":null,"unk_token":null,"continuing_subword_prefix":null,
               "end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":true,"ignore_merges":false,
               "vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]}}"#,
            "not ByteLevel",
        ),
    ];
    for (json, want) in cases {
        let tok = dir.path().join("t.json");
        std::fs::write(&tok, json).unwrap();
        let err = extend(&options(
            &tok,
            vec![corpus.clone()],
            &dir.path().join("o"),
            5,
        ))
        .err()
        .unwrap_or_else(|| panic!("{want}: accepted"))
        .to_string();
        assert!(
            err.contains(want) && err.contains("byte-level BPE"),
            "{err}"
        );
    }
    assert!(!dir.path().join("o").exists());
}

#[test]
fn a_corpus_too_small_says_how_many_merges_it_yields() {
    let dir = tempfile::tempdir().unwrap();
    let texts = vec!["licensor licensor sublicensee sublicensee".to_string(); 3];
    let corpus = write_jsonl(&dir.path().join("c.jsonl"), &texts);
    let out = dir.path().join("o");
    let err = extend(&options(&smollm2(), vec![corpus.clone()], &out, 1000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("of the 1000 new tokens asked"), "{err}");
    assert!(!out.exists(), "nothing is written on error");
    let learned: usize = err
        .split("yields only ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no count in {err}"));
    assert!(learned > 0 && learned < 1000);

    let mut opts = options(&smollm2(), vec![corpus], &out, 1000);
    opts.allow_fewer = true;
    let r = extend(&opts).unwrap();
    assert_eq!(r.learned, learned);
    assert!(r.stopped_early.is_some());
    assert!(out.join(TOKENIZER_FILE).is_file());
}

#[test]
fn cli_extends_and_reports_bad_input_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_jsonl(
        &dir.path().join("c.jsonl"),
        &first_texts("domain/licenses-heldout.jsonl.zst", 40),
    );
    let out = dir.path().join("o");
    let tok = smollm2();
    let args = |input: &str, n: &str| {
        vec![
            "cpt-curate".to_string(),
            "tokenizer".into(),
            "extend".into(),
            "--tokenizer".into(),
            tok.to_string_lossy().into_owned(),
            "-i".into(),
            input.into(),
            "--new-tokens".into(),
            n.into(),
            "-o".into(),
            out.to_string_lossy().into_owned(),
            "--quiet".into(),
        ]
    };
    assert_eq!(main_with_args(args(&good, "30")), 0);
    assert!(out.join(TOKENIZER_FILE).is_file() && out.join(REPORT_FILE).is_file());

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"fine\"}\n{\"text\": oops}\n").unwrap();
    let opts = options(&tok, vec![bad.to_string_lossy().into_owned()], &out, 5);
    let err = extend(&opts).unwrap_err().to_string();
    assert!(
        err.contains("bad.jsonl:2") && err.contains("bad JSON"),
        "{err}"
    );
    assert_eq!(main_with_args(args(&bad.to_string_lossy(), "5")), 1);

    // The installed binary behaves the same (exit code and message on stderr).
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_cpt-curate"))
        .args(&args(&bad.to_string_lossy(), "5")[1..])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("bad.jsonl:2"));
}
