//! The tokenize stage through the CLI entry point and the Rust reader: shards hold exactly the
//! `tokenizers` encodings plus EOS; output is the same for 1 and 2 threads; damage is reported
//! with shard and frame.

mod shared_data;
use cpt_engine::cli::main_with_args;
use cpt_engine::shard::{Dataset, ShardReader};
use cpt_engine::tokenize::{run, TokenizeOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The shared tokenizer; `None` only when the skip was asked for (see `shared_data`).
fn tokenizer_path() -> Option<PathBuf> {
    shared_data::path("tokenizers/smollm2-135m.tokenizer.json")
}

fn texts() -> Vec<String> {
    let mut t: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "Document {i}: the licensee shall {} redistribute — naïve 東京 {}",
                "not ".repeat(i % 7),
                "word ".repeat(i * 3 % 200)
            )
        })
        .collect();
    t.push(String::new());
    t.push("x".repeat(20_000));
    t
}

fn write_corpus(dir: &Path, texts: &[String]) -> PathBuf {
    let path = dir.join("docs.jsonl.zst");
    let mut enc = zstd::stream::write::Encoder::new(std::fs::File::create(&path).unwrap(), 3)
        .unwrap()
        .auto_finish();
    for (i, t) in texts.iter().enumerate() {
        writeln!(enc, "{}", serde_json::json!({"id": i, "text": t})).unwrap();
    }
    path
}

fn options(input: &Path, tok: &Path, out: &Path, threads: usize) -> TokenizeOptions {
    TokenizeOptions {
        inputs: vec![input.to_string_lossy().into_owned()],
        tokenizer: tok.to_path_buf(),
        output: out.to_path_buf(),
        threads: Some(threads),
        shard_tokens: 10_000,
        frame_tokens: 1_000,
        batch_bytes: 50_000,
        ..TokenizeOptions::default()
    }
}

#[test]
fn shards_hold_encodings_plus_eos_and_are_thread_independent() {
    let Some(tok_path) = tokenizer_path() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let texts = texts();
    let input = write_corpus(dir.path(), &texts);
    let tok = tokenizers::Tokenizer::from_file(&tok_path).unwrap();
    let eos = tok.token_to_id("<|endoftext|>").unwrap();
    let expected: Vec<Vec<u32>> = texts
        .iter()
        .map(|t| {
            let mut ids = tok.encode(t.as_str(), true).unwrap().get_ids().to_vec();
            ids.push(eos);
            ids
        })
        .collect();

    let mut outputs = Vec::new();
    for threads in [1, 2] {
        let out = dir.path().join(format!("out{threads}"));
        let report = run(&options(&input, &tok_path, &out, threads)).unwrap();
        assert_eq!(report.docs, texts.len() as u64);
        assert!(report.shards > 2);
        let mut ds =
            Dataset::open(&out.join("manifest.json"), Some(&report.tokenizer_hash)).unwrap();
        let mut got = Vec::new();
        for shard in ds.shards_mut() {
            shard.verify().unwrap();
            for j in 0..shard.num_docs() as usize {
                got.push(shard.document(j).unwrap());
            }
        }
        assert_eq!(got, expected);
        let flat: Vec<u32> = expected.concat();
        assert_eq!(ds.read(0, ds.num_tokens()).unwrap(), flat);
        assert_eq!(
            ds.read(12_345, 4_321).unwrap(),
            flat[12_345..12_345 + 4_321]
        );
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cpts") || p.ends_with("manifest.json"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        outputs.push(files);
    }
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn flipped_byte_and_truncation_name_shard_and_frame() {
    let Some(tok_path) = tokenizer_path() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_corpus(dir.path(), &texts());
    let out = dir.path().join("out");
    run(&TokenizeOptions {
        shard_tokens: 1 << 30,
        ..options(&input, &tok_path, &out, 2)
    })
    .unwrap();
    let shard = out.join("shard-00000.cpts");
    let bytes = std::fs::read(&shard).unwrap();
    // Frame 2 starts where the index says (FORMAT.md: entry i at index_offset + 32 i).
    let index_offset = u64::from_le_bytes(bytes[40..48].try_into().unwrap()) as usize;
    let at = index_offset + 2 * 32;
    let frame2 = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let mut bad = bytes.clone();
    bad[frame2 + 5] ^= 0x40;
    std::fs::write(&shard, &bad).unwrap();
    let mut r = ShardReader::open(&shard).unwrap();
    r.read(0, 1_000).unwrap();
    let err = r.verify().unwrap_err().to_string();
    assert!(
        err.contains("shard-00000.cpts") && err.contains("frame 2: checksum mismatch"),
        "{err}"
    );

    std::fs::write(&shard, &bytes[..bytes.len() - 7]).unwrap();
    let err = ShardReader::open(&shard).err().unwrap().to_string();
    assert!(
        err.contains("shard-00000.cpts") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn cli_runs_and_reports_bad_lines_with_file_and_line() {
    let Some(tok_path) = tokenizer_path() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_corpus(dir.path(), &texts()[..20]);
    let out = dir.path().join("out");
    let args = |input: &Path, out: &Path| {
        vec![
            "cpt-curate".to_string(),
            "tokenize".into(),
            "--input".into(),
            input.to_string_lossy().into_owned(),
            "--tokenizer".into(),
            tok_path.to_string_lossy().into_owned(),
            "--output".into(),
            out.to_string_lossy().into_owned(),
            "--megatron".into(),
            out.join("mega").to_string_lossy().into_owned(),
            "--quiet".into(),
        ]
    };
    assert_eq!(main_with_args(args(&input, &out)), 0);
    assert!(
        out.join("manifest.json").is_file()
            && out.join("mega.idx").is_file()
            && out.join("tokenize_report.json").is_file()
    );

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"text\": \"fine\"}\n{\"text\": 3}\n").unwrap();
    let err = run(&options(&bad, &tok_path, &dir.path().join("out2"), 1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.jsonl:2:"), "{err}");
    assert_eq!(main_with_args(args(&bad, &dir.path().join("out3"))), 1);
    assert!(!dir.path().join("out3/manifest.json").exists());
}
