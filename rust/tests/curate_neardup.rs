//! Near-duplicate removal as a pipeline stage, on the shared benchmark corpus: the
//! documents rejected as exact or near duplicates match an exact-Jaccard dedup (>= 0.95
//! precision and recall), near-duplicates name their cluster and a kept document, and
//! the output is byte-identical for 1 and 2 threads and when the band tables spill.

mod curate_common;
mod neardup_truth;
mod shared_data;
use cpt_engine::pipeline::{run, RunOptions};
use curate_common::{config, output_files, read_shards, stable_report};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Filters off: this measures the dedup stages alone against the reference.
const NO_FILTERS: [&str; 3] = [
    "filters.length.enabled=false",
    "filters.repetition.enabled=false",
    "filters.quality.enabled=false",
];

fn curate(input: &Path, out: &Path, sets: &[&str]) -> cpt_engine::report::Report {
    let mut all: Vec<&str> = NO_FILTERS.to_vec();
    all.extend_from_slice(sets);
    run(
        &config(&[input], out, &all),
        &RunOptions {
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn near_dup_stage_matches_exact_jaccard_and_is_deterministic() {
    let Some((corpus, reference)) = neardup_truth::load() else {
        return;
    };
    let truth = reference.removed_ids(0.8);
    assert!(truth.len() > 500, "ground truth too small: {}", truth.len());
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let report = curate(&corpus, &one, &["threads=1"]);

    // Accounting and the report's near-dup section.
    assert_eq!(report.input_docs, reference.ids.len() as u64);
    assert_eq!(report.kept_docs + report.rejected_docs, report.input_docs);
    let near = report
        .section("near_dedup")
        .expect("near_dedup in the report");
    let (plan, stats) = (&near["plan"], &near["stats"]);
    let n_near = report.rejected["near_duplicate"].docs;
    assert_eq!(stats["duplicates"], n_near);
    assert!(stats["clusters"].as_u64().unwrap() > 100);
    assert!(stats["candidate_pairs"].as_u64().unwrap() >= n_near);
    assert_eq!(plan["bands"], stats["bands"]);
    assert!(plan["p_at_plus"].as_f64().unwrap() > plan["p_at_threshold"].as_f64().unwrap());
    assert!(report.timings.stages.contains_key("near_dedup"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(one.join("report.json")).unwrap()).unwrap();
    for key in [
        "candidate_pairs",
        "verified_pairs",
        "cluster_sizes",
        "estimated_fp_rate",
    ] {
        assert!(
            !json["near_dedup"]["stats"][key].is_null(),
            "report lacks {key}"
        );
    }
    assert!(json["timings"]["near_dedup"]["seconds"].is_number());

    // Precision and recall of everything removed as a duplicate.
    let rejected = read_shards(&one.join("rejected"));
    let kept_ids: HashSet<String> = read_shards(&one.join("kept"))
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let got: HashSet<String> = rejected
        .iter()
        .filter(|d| {
            matches!(
                d["reject_reason"].as_str(),
                Some("near_duplicate" | "exact_duplicate")
            )
        })
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    let (p, r) = neardup_truth::precision_recall(&got, &truth);
    eprintln!(
        "pipeline: removed {} (near {n_near}), truth {}, precision {p:.4} recall {r:.4}",
        got.len(),
        truth.len()
    );
    assert!(p >= 0.95 && r >= 0.95, "precision {p} recall {r}");

    // Near-duplicates name a kept document, the same one for the whole cluster, and
    // that document comes earlier in the input.
    let position: HashMap<&str, usize> = reference
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut kept_of_cluster: HashMap<u64, String> = HashMap::new();
    for d in rejected
        .iter()
        .filter(|d| d["reject_reason"] == "near_duplicate")
    {
        let id = d["id"].as_str().unwrap();
        let of = d["duplicate_of"]
            .as_str()
            .expect("duplicate_of")
            .to_string();
        let cluster = d["cluster_id"].as_u64().expect("cluster_id");
        assert!(
            kept_ids.contains(&of),
            "{id}: duplicate_of {of} is not kept"
        );
        assert!(position[of.as_str()] < position[id]);
        assert_eq!(
            kept_of_cluster.entry(cluster).or_insert_with(|| of.clone()),
            &of
        );
    }
    assert_eq!(kept_of_cluster.len() as u64, stats["clusters"]);

    // Same bytes for 2 threads, and when the band tables spill to .state/.
    curate(&corpus, &two, &["threads=2"]);
    let files = output_files(&one);
    assert_eq!(files, output_files(&two));
    assert_eq!(stable_report(&one), stable_report(&two));
    let spilled = dir.path().join("spilled");
    let r = curate(&corpus, &spilled, &["threads=2", "minhash.mem_limit=64KiB"]);
    assert_eq!(r.section("near_dedup").unwrap()["stats"]["spilled"], true);
    assert_eq!(files, output_files(&spilled));
    let leftovers: Vec<_> = std::fs::read_dir(spilled.join(".state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !(n.starts_with("scan-") || n.starts_with("done-") || n == "job.json"))
        .collect();
    assert!(leftovers.is_empty(), "spill files left: {leftovers:?}");
}

#[test]
fn minhash_keys_are_checked_by_path_and_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.jsonl");
    let text = curate_common::prose(1, 80);
    let body = format!(
        "{}\n{}\n",
        serde_json::json!({"id": "a", "text": text}),
        serde_json::json!({"id": "b", "text": format!("{text} one more")})
    );
    std::fs::write(&input, body).unwrap();
    let on = curate(&input, &dir.path().join("on"), &[]);
    assert_eq!(on.rejected["near_duplicate"].docs, 1);
    let off = curate(&input, &dir.path().join("off"), &["minhash.enabled=false"]);
    assert_eq!(off.kept_docs, 2);
    assert!(off.section("near_dedup").is_none());
    assert!(!off.timings.stages.contains_key("near_dedup"));
    for (set, key) in [
        ("minhash.threshold=1.5", "minhash.threshold"),
        ("minhash.num_perm=0", "minhash.num_perm"),
        ("minhash.bands=40", "minhash.rows"),
        ("minhash.mem_limit=lots", "minhash.mem_limit"),
        ("minhash.bandz=4", "minhash.bandz"),
    ] {
        let err = cpt_engine::config::Config::resolve(None, None, &[set.into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{set}: {err}");
    }
}
