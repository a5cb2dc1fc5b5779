//! Every input line is accounted for: lenient mode counts and routes every kind of bad
//! line; strict mode stops at the first one, naming file and line.

mod curate_common;
use cpt_engine::pipeline::{run, RunOptions};
use curate_common::*;
use serde_json::json;

fn doc(id: Option<&str>, text: &str) -> String {
    match id {
        Some(id) => json!({"id": id, "text": text, "source": "test", "meta": {"n": 1}}).to_string(),
        None => json!({"text": text, "meta": {"k": [1, 2]}}).to_string(),
    }
}

fn corpus(dir: &std::path::Path) -> std::path::PathBuf {
    let good = prose(1, 80);
    let lines: Vec<Vec<u8>> = vec![
        doc(Some("a"), &good).into_bytes(),                   // 1 kept
        b"{\"text\": \"unterminated".to_vec(),                // 2 bad JSON
        b"[1, 2, 3]".to_vec(),                                // 3 not an object
        b"{\"id\": \"x\", \"text\": \"caf\xe9\"}".to_vec(),   // 4 invalid UTF-8
        b"{\"id\": \"y\"}".to_vec(),                          // 5 missing text
        b"{\"id\": \"z\", \"text\": 42}".to_vec(),            // 6 text not a string
        b"   ".to_vec(),                                      // 7 blank: skipped
        doc(None, &good.to_uppercase()).into_bytes(),         // 8 exact duplicate of a
        doc(Some("short"), "too short to keep").into_bytes(), // 9 length
        doc(Some("rep"), &[good.as_str(); 3].join("\n")).into_bytes(), // 10 repetition
        doc(
            Some("num"),
            &(0..80)
                .map(|i| format!("{i}{i}{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .into_bytes(), // 11 quality
        doc(None, &format!("{} write to jane@example.com", prose(2, 70))).into_bytes(), // 12 kept, PII
    ];
    let mut body = lines.join(&b"\n"[..]);
    body.push(b'\n');
    let path = dir.join("mixed.jsonl");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn lenient_mode_accounts_for_every_kind_of_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let out = dir.path().join("out");
    let report = run(
        &config(&[&input], &out, &["lenient=true"]),
        &RunOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(report.input_docs, 11);
    assert_eq!(report.blank_lines, 1);
    assert_eq!(report.malformed_docs, 5);
    let docs = |r: &str| report.rejected.get(r).map_or(0, |c| c.docs);
    assert_eq!(
        (
            docs("exact_duplicate"),
            docs("length"),
            docs("repetition"),
            docs("quality")
        ),
        (1, 1, 1, 1),
        "{:?}",
        report.rejected
    );
    assert_eq!(report.kept_docs, 2);
    assert_eq!(report.kept_docs + report.rejected_docs, report.input_docs);
    assert_eq!(
        report.kept_bytes + report.rejected_bytes,
        report.input_bytes
    );
    assert_eq!(report.pii.counts.email, 1);

    let kept = read_shards(&out.join("kept"));
    assert_eq!(kept.len(), 2);
    assert_eq!(
        kept[0],
        serde_json::from_str::<serde_json::Value>(&doc(Some("a"), &prose(1, 80))).unwrap()
    );
    // A document without id gets `<stem>:<line>`; its other fields are kept; PII redacted.
    assert_eq!(kept[1]["id"], "mixed:12");
    assert_eq!(kept[1]["meta"], json!({"k": [1, 2]}));
    assert!(kept[1]["text"]
        .as_str()
        .unwrap()
        .ends_with("write to <EMAIL>"));

    let rejected = read_shards(&out.join("rejected"));
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|d| d["reject_reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "malformed",
            "malformed",
            "malformed",
            "malformed",
            "malformed",
            "exact_duplicate",
            "length",
            "repetition",
            "quality"
        ]
    );
    let lines: Vec<u64> = rejected[..5]
        .iter()
        .map(|d| d["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4, 5, 6]);
    assert_eq!(
        rejected[2]["raw"],
        "{\"id\": \"x\", \"text\": \"caf\u{fffd}\"}"
    );
    assert!(rejected[2]["reject_detail"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    assert!(rejected[3]["reject_detail"]
        .as_str()
        .unwrap()
        .contains("missing field `text`"));
    assert!(rejected[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("mixed.jsonl"));
    assert_eq!(rejected[5]["duplicate_of"], "a");
    assert_eq!(rejected[5]["id"], "mixed:8");
    assert_eq!(rejected[6]["reject_detail"], "words 4 < 50");
    assert_eq!(rejected[6]["source"], "test");
}

#[test]
fn strict_mode_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path());
    let err = run(
        &config(&[&input], &dir.path().join("out"), &[]),
        &RunOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, cpt_engine::Error::Input { line: 2, .. }),
        "{msg}"
    );
    assert!(msg.contains("mixed.jsonl:2:"), "{msg}");
}

#[test]
fn corrupt_compressed_inputs_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..400)
        .map(|i| doc(Some(&format!("d{i}")), &prose(i, 60)) + "\n")
        .collect();
    let full = zstd::encode_all(body.as_bytes(), 3).unwrap();
    let truncated = dir.path().join("truncated.jsonl.zst");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let mut flipped_bytes = full.clone();
    let mid = flipped_bytes.len() / 2;
    flipped_bytes[mid] ^= 0x5a;
    flipped_bytes[mid + 1] ^= 0xa5;
    let flipped = dir.path().join("flipped.jsonl.zst");
    std::fs::write(&flipped, &flipped_bytes).unwrap();
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::default());
        e.write_all(body.as_bytes()).unwrap();
        e.finish().unwrap();
    }
    let gz_trunc = dir.path().join("truncated.jsonl.gz");
    std::fs::write(&gz_trunc, &gz[..gz.len() - 20]).unwrap();
    for (i, path) in [&truncated, &flipped, &gz_trunc].into_iter().enumerate() {
        // Lenient mode does not hide a corrupt file: it is not a line-level problem.
        let out = dir.path().join(format!("out{i}"));
        let err = run(
            &config(&[path], &out, &["lenient=true"]),
            &RunOptions {
                quiet: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, cpt_engine::Error::Corrupt { .. }),
            "{}: {msg}",
            path.display()
        );
        assert!(msg.contains(&path.to_string_lossy().to_string()), "{msg}");
        assert!(msg.contains("after line"), "{msg}");
    }
}
