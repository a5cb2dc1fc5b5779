//! Language id, the domain classifier and selection on real data: accuracy of `whatlang` on
//! Debian's translated manual pages, the classifier's held-out precision and recall and
//! its mining of license texts hidden among speeches, and selection that gives the same
//! kept set for 1 and 2 threads, after a kill, and when re-applied with `cpt-curate select`.

mod curate_common;
mod shared_data;
use cpt_engine::score::classifier::{evaluate, train, FeatureConfig, Model, TrainOptions};
use cpt_engine::score::langid;
use curate_common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_cpt-curate");

fn jsonl_zst(path: &Path) -> Vec<serde_json::Value> {
    let file = std::fs::File::open(path).unwrap();
    BufReader::new(zstd::Decoder::new(file).unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect()
}

#[test]
fn language_id_on_manpages_is_accurate_per_language() {
    let data =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/langid/manpages.jsonl.zst");
    let mut per: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for d in jsonl_zst(&data) {
        let want = d["lang"].as_str().unwrap().to_string();
        let (got, _) = langid::detect(d["text"].as_str().unwrap(), 4096);
        let e = per.entry(want.clone()).or_default();
        e.0 += u32::from(got == want);
        e.1 += 1;
        if got != want {
            let t: String = d["text"].as_str().unwrap().chars().take(80).collect();
            eprintln!("{want} read as {got}: {t}");
        }
    }
    assert!(per.len() >= 8, "{per:?}");
    let accs: Vec<f64> = per
        .values()
        .map(|(c, n)| f64::from(*c) / f64::from(*n))
        .collect();
    let macro_avg = accs.iter().sum::<f64>() / accs.len() as f64;
    eprintln!("per language (correct, docs): {per:?}; macro-average accuracy {macro_avg:.4}");
    // Issue 12's bar. The set keeps only pages whose body is translated (see
    // scripts/langid_testset.py); measured 1.0 (480 of 480).
    assert!(macro_avg >= 0.97, "macro accuracy {macro_avg:.4}: {per:?}");
    assert!(
        accs.iter().all(|a| *a >= 0.9),
        "a language under 0.9: {per:?}"
    );
}

fn model(data: &Path, bits: u32) -> Model {
    let o = TrainOptions {
        features: FeatureConfig {
            bits,
            ..FeatureConfig::default()
        },
        ..TrainOptions::default()
    };
    let p = data
        .join("domain/licenses-train.jsonl.zst")
        .to_string_lossy()
        .into_owned();
    let n = data
        .join("general/sotu-train.jsonl.zst")
        .to_string_lossy()
        .into_owned();
    train(&[p], &[n], &o).unwrap().0
}

#[test]
fn classifier_separates_held_out_licenses_and_mines_a_mixed_pool() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let m = model(&data, 18);
    let e = evaluate(
        &m,
        &[data
            .join("domain/licenses-heldout.jsonl.zst")
            .to_string_lossy()
            .into_owned()],
        &[data
            .join("general/sotu-heldout.jsonl.zst")
            .to_string_lossy()
            .into_owned()],
        0.5,
    )
    .unwrap();
    eprintln!("held-out: {e:?}");
    assert!(e.precision >= 0.95 && e.recall >= 0.95, "{e:?}");
    // The near-dup corpus: 600-word speech chunks with whole license texts among them.
    let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
    for d in jsonl_zst(&data.join("neardup/docs.jsonl.zst")) {
        let license = d["id"].as_str().unwrap().starts_with("license-");
        let hit = m.score(d["text"].as_str().unwrap()) >= 0.5;
        match (license, hit) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            _ => {}
        }
    }
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    eprintln!(
        "mined pool: precision {precision:.4}, recall {recall:.4} ({tp} tp, {fp} fp, {fn_} fn)"
    );
    assert!(precision >= 0.9 && recall >= 0.9, "{precision} {recall}");
}

/// 600 documents of the near-dup corpus over 4 inputs.
fn inputs(dir: &Path, data: &Path) -> Vec<PathBuf> {
    let file = std::fs::File::open(data.join("neardup/docs.jsonl.zst")).unwrap();
    let lines: Vec<String> = BufReader::new(zstd::Decoder::new(file).unwrap())
        .lines()
        .take(600)
        .map(Result::unwrap)
        .collect();
    let mut paths = Vec::new();
    for (i, chunk) in lines.chunks(150).enumerate() {
        let path = dir.join(format!("in{i}.jsonl.zst"));
        zstd_file(&path, (chunk.join("\n") + "\n").as_bytes());
        paths.push(path);
    }
    paths
}

fn curate(
    input: &Path,
    out: &Path,
    sets: &[String],
    env: Option<(&str, &str)>,
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--quiet", "--input"])
        .arg(input)
        .arg("--output")
        .arg(out);
    cmd.args(["--set", "shard_max_bytes=300000"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut f = output_files(out);
    let mut names: Vec<PathBuf> = std::fs::read_dir(out.join("attributes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        f.push((
            format!("attributes/{}", p.file_name().unwrap().to_string_lossy()),
            std::fs::read(&p).unwrap(),
        ));
    }
    f
}

fn ids(dir: &Path) -> BTreeSet<String> {
    read_shards(dir)
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn selection_is_deterministic_resumes_and_reapplies() {
    let Some(data) = shared_data::dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    inputs(&in_dir, &data);
    let clf = dir.path().join("clf.bin");
    model(&data, 16).save(&clf).unwrap();
    let scoring = vec![
        "language.enabled=true".to_string(),
        "domain_classifier.enabled=true".into(),
        format!("domain_classifier.model={:?}", clf.to_string_lossy()),
        "minhash.enabled=false".into(),
    ];
    let mut selecting = scoring.clone();
    selecting.push(r#"select.policies=["domain_score:min=0.1", "domain_score:top=0.5"]"#.into());
    let run = |name: &str, sets: &[String], threads: &str, env| {
        let out = dir.path().join(name);
        let mut s = sets.to_vec();
        s.push(format!("threads={threads}"));
        let o = curate(&in_dir, &out, &s, env);
        (out, o)
    };
    let (one, o) = run("one", &selecting, "1", None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (two, _) = run("two", &selecting, "2", None);
    let want = files(&one);
    assert!(want.iter().any(|(n, _)| n.starts_with("attributes/")));
    assert_eq!(want, files(&two));
    assert_eq!(stable_report(&one), stable_report(&two));
    let report = stable_report(&one);
    let sel = &report["selection"];
    assert_eq!(sel["policies"][1]["policy"], "domain_score:top=0.5");
    eprintln!("policies: {}", sel["policies"]);
    // Both the threshold and the top fraction remove documents.
    assert!(
        sel["policies"][0]["removed_docs"].as_u64().unwrap() > 10,
        "{sel}"
    );
    // Every input document accounted for.
    let rejected: u64 = report["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["docs"].as_u64().unwrap())
        .sum();
    assert_eq!(report["input_docs"].as_u64().unwrap(), 600);
    assert_eq!(report["kept_docs"].as_u64().unwrap() + rejected, 600);
    assert!(
        sel["policies"][1]["removed_docs"].as_u64().unwrap() > 100,
        "{sel}"
    );
    assert!(report["rejected"]["domain_score"]["docs"].as_u64().unwrap() > 100);
    assert_eq!(
        sel["attributes"]["domain_score"]["counts"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert!(sel["attributes"]["lang"]["labels"]["eng"].as_u64().unwrap() > 300);
    // rejected/ carries the policy's reason and the rule.
    let by_score: Vec<serde_json::Value> = read_shards(&one.join("rejected"))
        .into_iter()
        .filter(|d| d["reject_reason"] == "domain_score")
        .collect();
    assert_eq!(
        by_score.len() as u64,
        report["rejected"]["domain_score"]["docs"].as_u64().unwrap()
    );
    assert!(by_score.iter().all(|d| d["reject_detail"]
        .as_str()
        .unwrap()
        .starts_with("domain_score ")));
    // Every kept document has its attribute line, in order.
    let kept = read_shards(&one.join("kept"));
    let attrs = read_shards(&one.join("attributes"));
    assert_eq!(kept.len(), attrs.len());
    for (k, a) in kept.iter().zip(&attrs) {
        assert_eq!(k["id"], a["id"]);
        assert!(a["attributes"]["lang"].is_string() && a["attributes"]["domain_score"].is_number());
    }
    // Killed after 2 of 4 files were written, then resumed: the same outputs.
    let (killed, o) = run(
        "killed",
        &selecting,
        "2",
        Some(("CPT_TEST_ABORT_AFTER_FILES", "2")),
    );
    assert!(o.status.code().is_none(), "expected an abort");
    let (_, o) = run("killed", &selecting, "1", None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files(&killed), want);

    // Score only, then re-apply the policies to the finished run: the same kept set.
    let (scored, o) = run("scored", &scoring, "2", None);
    assert!(o.status.success());
    let sel_out = dir.path().join("sel");
    let reapply = |extra: &[&str]| {
        Command::new(BIN)
            .args(["select", "--quiet", "--attributes"])
            .arg(scored.join("attributes"))
            .args([
                "--policy",
                "domain_score:min=0.1",
                "--policy",
                "domain_score:top=0.5",
                "-o",
            ])
            .arg(&sel_out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = reapply(&["-j", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ids(&sel_out.join("kept")), ids(&one.join("kept")));
    let first = files(&sel_out);
    assert!(
        !reapply(&[]).status.success(),
        "a second selection needs --overwrite"
    );
    assert!(reapply(&["--overwrite", "-j", "2"]).status.success());
    assert_eq!(files(&sel_out), first);
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sel_out.join("select_report.json")).unwrap())
            .unwrap();
    assert_eq!(
        r["kept_docs"].as_u64().unwrap() as usize,
        ids(&one.join("kept")).len()
    );

    // An attribute file that does not align with its documents is named.
    let a = scored.join("attributes");
    let first_attr = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let body = zstd::decode_all(&std::fs::read(&first_attr).unwrap()[..]).unwrap();
    let text = String::from_utf8(body).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(0, 1);
    zstd_file(&first_attr, (lines.join("\n") + "\n").as_bytes());
    let o = reapply(&["--overwrite"]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && msg.contains(&*first_attr.file_name().unwrap().to_string_lossy())
            && msg.contains(":1:")
            && msg.contains("does not align"),
        "{msg}"
    );
    lines.remove(0);
    zstd_file(&first_attr, (lines.join("\n") + "\n").as_bytes());
    let msg = String::from_utf8_lossy(&reapply(&["--overwrite"]).stderr).into_owned();
    assert!(msg.contains("does not align"), "{msg}");

    // A missing or corrupt model is named before any work.
    let mut bad = scoring.clone();
    bad[2] = format!(
        "domain_classifier.model={:?}",
        dir.path().join("none.bin").to_string_lossy()
    );
    let o = curate(&in_dir, &dir.path().join("bad"), &bad, None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("none.bin"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A source quota cannot run in the pipeline (the scan does not keep sources).
    let mut src = scoring;
    src.push(r#"select.policies=["source:quota=a:0.5"]"#.into());
    let o = curate(&in_dir, &dir.path().join("src"), &src, None);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cpt-curate select"));
}
