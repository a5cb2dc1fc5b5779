//! Issue 11, the input layer: cpt's own shards carry zstd content checksums and a flipped
//! bit is caught; fields come out byte-exact; over-deep lines are refused (counted when
//! lenient); inputs are read once and never from a cpt output; generated ids are unique
//! within a job and duplicate ids are counted; an input edited in place is refused on
//! resume; `tokenize` does not replace another dataset silently; a kill while
//! `report.json` is written resumes to the same outputs.

mod curate_common;
mod shared_data;
use cpt_engine::input::RecordReader;
use cpt_engine::pipeline::{run, RunOptions};
use cpt_engine::Error;
use curate_common::*;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cpt-curate");

fn quiet() -> RunOptions {
    RunOptions {
        overwrite: false,
        quiet: true,
    }
}

fn doc(id: Option<&str>, seed: usize) -> String {
    let text = serde_json::to_string(&prose(seed, 80)).unwrap();
    match id {
        Some(id) => format!(r#"{{"id": "{id}", "text": {text}}}"#),
        None => format!(r#"{{"text": {text}}}"#),
    }
}

fn lines(path: &Path) -> Vec<String> {
    let mut r = RecordReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push(String::from_utf8(rec.bytes.to_vec()).unwrap());
    }
    out
}

const NO_NEAR: &str = "minhash.enabled=false";

#[test]
fn own_shards_carry_checksums_and_a_flipped_bit_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let body: Vec<String> = (0..40).map(|i| doc(None, i)).collect();
    std::fs::write(&input, body.join("\n") + "\n{\"text\": \"short\"}\n").unwrap();
    let out = dir.path().join("out");
    run(&config(&[&input], &out, &[NO_NEAR]), &quiet()).unwrap();
    for sub in ["kept", "rejected"] {
        let shard = out.join(sub).join("part-00000-0000.jsonl.zst");
        let bytes = std::fs::read(&shard).unwrap();
        // Frame_Header_Descriptor, bit 2: Content_Checksum_flag.
        assert_eq!(bytes[4] & 0b100, 0b100, "{sub}: no content checksum");
    }
    let shard = out.join("kept/part-00000-0000.jsonl.zst");
    let good = std::fs::read(&shard).unwrap();
    for at in [good.len() / 3, good.len() / 2, good.len() - 6] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&shard, &bad).unwrap();
        let mut r = RecordReader::open(&shard).unwrap();
        let err = loop {
            match r.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("bit flip at {at} passed"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("part-00000-0000.jsonl.zst") && msg.contains("after line"),
            "{msg}"
        );
    }
}

#[test]
fn fields_are_byte_exact_and_deep_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("f.jsonl");
    // One-line texts: they are spliced into JSON literals below as they are.
    let text = prose(1, 80).replace('\n', " ");
    let kept_in = format!(
        r#"{{"z": 123456789012345678901234567890, "text": "{text} mail jane@example.org", "f": 1.50e3, "a": {{"y": 1, "b": 2}}}}"#
    );
    let untouched = format!(
        r#"{{ "id" : "u1" , "n": 1e400, "text": "{}" }}"#,
        prose(2, 80).replace('\n', " ")
    );
    let short = r#"{"n": 98765432109876543210987654321, "text": "too short"}"#;
    let deep = format!(
        r#"{{"text": "x", "meta": {}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    std::fs::write(&input, format!("{kept_in}\n{untouched}\n{short}\n{deep}\n")).unwrap();
    // Strict: the deep line is an error naming file, line and the limit.
    let strict = dir.path().join("strict");
    let err = run(&config(&[&input], &strict, &[NO_NEAR]), &quiet())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("f.jsonl:4: nested deeper than 100 levels"),
        "{err}"
    );
    let out = dir.path().join("out");
    let report = run(
        &config(&[&input], &out, &[NO_NEAR, "lenient=true"]),
        &quiet(),
    )
    .unwrap();
    assert_eq!(report.malformed_docs, 1);
    let kept = lines(&out.join("kept/part-00000-0000.jsonl.zst"));
    assert_eq!(
        kept[0],
        format!(
            r#"{{"z": 123456789012345678901234567890, "text": "{text} mail <EMAIL>", "f": 1.50e3, "a": {{"y": 1, "b": 2}},"id":"f:1"}}"#
        )
    );
    assert_eq!(kept[1], untouched);
    let rejected = lines(&out.join("rejected/part-00000-0000.jsonl.zst"));
    assert!(
        rejected[0].starts_with(
            r#"{"n": 98765432109876543210987654321, "text": "too short","id":"f:3","reject_reason":"length""#
        ),
        "{}",
        rejected[0]
    );
    assert!(rejected[1].contains("\"reject_reason\":\"malformed\""));
    assert!(rejected[1].contains("nested deeper than 100 levels"));
}

#[test]
fn inputs_are_read_once_and_never_from_a_cpt_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("a")).unwrap();
    let body: Vec<String> = (0..5).map(|i| doc(None, i)).collect();
    std::fs::write(data.join("a/x.jsonl"), body.join("\n")).unwrap();
    std::os::unix::fs::symlink(data.join("a/x.jsonl"), data.join("a/same.jsonl")).unwrap();
    std::os::unix::fs::symlink(&data, data.join("a/loop")).unwrap();
    let dotted = dir.path().join("data/a/../a/x.jsonl");
    // A previous run's output, moved into the input tree, is skipped by its marker.
    let prev = dir.path().join("prev");
    run(&config(&[&data], &prev, &[NO_NEAR]), &quiet()).unwrap();
    std::fs::rename(&prev, data.join("prev")).unwrap();
    let out = dir.path().join("out");
    let r = run(&config(&[&data, &dotted], &out, &[NO_NEAR]), &quiet()).unwrap();
    assert_eq!((r.input_docs, r.inputs.len()), (5, 1));
    // Following directory symlinks still reads each file once and ends.
    let out2 = dir.path().join("out2");
    let r = run(
        &config(&[&data], &out2, &[NO_NEAR, "follow_symlinks=true"]),
        &quiet(),
    )
    .unwrap();
    assert_eq!(r.input_docs, 5);
    // Output inside an input directory, or equal to it, is refused with a message saying so.
    let err = run(&config(&[&data], &data.join("new"), &[NO_NEAR]), &quiet())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is inside the input directory"), "{err}");
    let err = run(&config(&[&data], &data, &[NO_NEAR]), &quiet())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is the output directory"), "{err}");
}

#[test]
fn generated_ids_are_unique_and_duplicate_ids_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for sub in ["a", "b"] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
    }
    // The same document in two same-named files: its copy is a duplicate of the other file's.
    std::fs::write(data.join("a/docs.jsonl"), doc(None, 7)).unwrap();
    std::fs::write(
        data.join("b/docs.jsonl"),
        doc(None, 7) + "\n" + &doc(Some("k"), 8),
    )
    .unwrap();
    std::fs::write(data.join("b/more.jsonl"), doc(Some("k"), 9)).unwrap();
    let out = dir.path().join("out");
    let r = run(&config(&[&data], &out, &[NO_NEAR]), &quiet()).unwrap();
    assert_eq!(r.rejected["exact_duplicate"].docs, 1);
    let rejected = read_shards(&out.join("rejected"));
    assert_eq!(rejected[0]["id"], "b/docs:1");
    assert_eq!(rejected[0]["duplicate_of"], "a/docs:1");
    assert_eq!(
        (r.duplicate_ids, r.duplicate_id_examples.clone()),
        (1, vec!["k".to_string()])
    );
}

#[test]
fn an_input_edited_in_place_is_refused_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let body: Vec<String> = (0..5).map(|i| doc(None, i)).collect();
    let text = body.join("\n");
    std::fs::write(&input, &text).unwrap();
    let out = dir.path().join("out");
    let c = config(&[&input], &out, &[NO_NEAR]);
    run(&c, &quiet()).unwrap();
    run(&c, &quiet()).unwrap(); // unchanged: resumes
                                // Same size, other content (the 'council' of a later document becomes 'councel').
    let edited = text.replacen("council", "councel", 3);
    assert_eq!(edited.len(), text.len());
    assert_ne!(edited, text);
    std::fs::write(&input, &edited).unwrap();
    let err = run(&c, &quiet()).unwrap_err().to_string();
    assert!(
        err.contains("in.jsonl: input changed since the interrupted job")
            && err.contains("content fingerprint")
            && err.contains("--overwrite"),
        "{err}"
    );
}

#[test]
fn tokenize_into_another_dataset_is_refused_without_overwrite() {
    let Some(tok) = shared_data::path("tokenizers/smollm2-135m.tokenizer.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    let b = dir.path().join("b.jsonl");
    std::fs::write(&a, doc(None, 1)).unwrap();
    std::fs::write(&b, doc(None, 2)).unwrap();
    let out = dir.path().join("tokens");
    let tokenize = |input: &Path, extra: &[&str]| {
        Command::new(BIN)
            .args(["tokenize", "--quiet", "--input"])
            .arg(input)
            .arg("--tokenizer")
            .arg(&tok)
            .arg("--output")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(tokenize(&a, &[]).status.success());
    assert!(tokenize(&a, &[]).status.success(), "same inputs: a rerun");
    let refused = tokenize(&b, &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("holds a dataset of other inputs")
            && err.contains("a.jsonl")
            && err.contains("b.jsonl")
            && err.contains("--overwrite"),
        "{err}"
    );
    assert!(tokenize(&b, &["--overwrite"]).status.success());
}

#[test]
fn a_kill_while_report_json_is_written_resumes_to_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let body: Vec<String> = (0..30).map(|i| doc(None, i % 25)).collect();
    std::fs::write(&input, body.join("\n")).unwrap();
    let curate = |out: &Path, abort: bool| {
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--quiet", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(out)
            .args(["--set", NO_NEAR]);
        if abort {
            cmd.env("CPT_TEST_ABORT_IN_REPORT", "1");
        }
        cmd.output().unwrap()
    };
    let clean = dir.path().join("clean");
    assert!(curate(&clean, false).status.success());
    let killed = dir.path().join("killed");
    assert!(!curate(&killed, true).status.success());
    assert!(!killed.join("report.json").exists());
    assert!(
        killed.join(".report.json.tmp").exists(),
        "the hook wrote half a report"
    );
    let resumed = curate(&killed, false);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(!killed.join(".report.json.tmp").exists());
    assert_eq!(output_files(&clean), output_files(&killed));
    assert_eq!(stable_report(&clean), stable_report(&killed));
}
