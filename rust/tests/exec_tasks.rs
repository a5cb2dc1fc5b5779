//! A job split into tasks (`cpt-curate run --tasks N`, `cpt-curate task`), through the
//! built binary: byte-identical outputs to a one-process run for 1, 2 and 3 tasks (kept,
//! rejected, token shards, manifest, report without timings); a task killed before its
//! marker and relaunched; a truncated intermediate and one from another job refused with
//! the file and task named, fixed by relaunching; a changed task count refused. The
//! near-dup stage partitioned by band: clusters and exact copies spanning scan tasks, band
//! tables spilled under a tiny `--mem-per-task`, a band task killed, and a band output
//! removed mid-job, each with outputs equal to the one-process run.

mod curate_common;
mod shared_data;
use curate_common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cpt-curate");

/// 600 documents of the near-duplicate corpus over 5 input files, and in the last file
/// exact copies of 8 documents of the first and one-word edits of 8 of the second (new
/// ids ending `-copy` / `-edit`): duplicates whose first document is in another scan task.
fn inputs(dir: &Path) -> Option<()> {
    let data = shared_data::dir()?;
    let file = std::fs::File::open(data.join("neardup/docs.jsonl.zst")).unwrap();
    let lines: Vec<String> = BufReader::new(zstd::Decoder::new(file).unwrap())
        .lines()
        .take(600)
        .map(Result::unwrap)
        .collect();
    let mut chunks: Vec<Vec<String>> = lines.chunks(120).map(<[String]>::to_vec).collect();
    for (src, suffix) in [(0, "copy"), (1, "edit")] {
        for line in &lines[src * 120..src * 120 + 8] {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["id"] = format!("{}-{suffix}", v["id"].as_str().unwrap()).into();
            if suffix == "edit" {
                v["text"] = format!("Edited: {}", v["text"].as_str().unwrap()).into();
            }
            chunks[4].push(v.to_string());
        }
    }
    for (i, chunk) in chunks.iter().enumerate() {
        let mut body = chunk.join("\n").into_bytes();
        body.push(b'\n');
        zstd_file(&dir.join(format!("in{i}.jsonl.zst")), &body);
    }
    Some(())
}

fn tokenizer() -> PathBuf {
    shared_data::dir()
        .unwrap()
        .join("tokenizers/smollm2-135m.tokenizer.json")
}

fn curate(cmd: &str, in_dir: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args([cmd, "--quiet", "--input"])
        .arg(in_dir)
        .arg("--output")
        .arg(out)
        .args([
            "--set",
            "shard_max_bytes=200000",
            "--set",
            "tokenize.enabled=true",
        ])
        .arg("--set")
        .arg(format!("tokenize.tokenizer={}", tokenizer().display()))
        .args(["--set", "tokenize.shard_tokens=40000"])
        .args(extra);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A run whose task `task` aborts after its work, before its marker (a kill at the worst moment).
fn run_aborting_in(task: &str, in_dir: &Path, out: &Path, args: &[&str]) {
    let o = curate(
        "run",
        in_dir,
        out,
        args,
        &[("CPT_TEST_ABORT_IN_TASK", task)],
    );
    assert!(
        o.status.code().is_none(),
        "expected an abort in {task}: {:?}",
        o.status
    );
}

fn marker_path(out: &Path, task: &str) -> PathBuf {
    out.join(format!(".state/exec/done/{task}.json"))
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every output file but the state and the reports, by relative path, with its bytes.
fn files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = output_files(out);
    let tokens = out.join("tokens");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&tokens)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            // The tokenize report has timings; hidden files are the stage's resume state.
            name != "tokenize_report.json" && !name.starts_with('.')
        })
        .collect();
    names.sort();
    assert!(names.len() > 2, "expected token shards and a manifest");
    for p in names {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "manifest.json" {
            // It names the kept shards by path, under this run's output directory.
            let text = String::from_utf8(bytes).unwrap();
            bytes = text.replace(&out.display().to_string(), "OUT").into_bytes();
        }
        v.push((format!("tokens/{name}"), bytes));
    }
    v
}

fn report(out: &Path) -> serde_json::Value {
    let mut r = stable_report(out);
    // Where the tasks ran and their peak memory: run facts, like the timings.
    r.as_object_mut().unwrap().shift_remove("exec");
    let t = r["tokenize"].as_object_mut().unwrap();
    // Timings, and what a relaunched finish task found already written.
    for k in [
        "seconds",
        "tokens_per_second",
        "mb_per_second",
        "resumed_shards",
        "resumed_docs",
    ] {
        t.shift_remove(k);
    }
    // The tokenize section names its files under this run's output directory.
    let text = r.to_string().replace(&out.display().to_string(), "OUT");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn sharded_runs_equal_the_one_process_run_and_recover_from_damage() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    if inputs(&in_dir).is_none() {
        return; // shared data absent and the skip asked for (see `shared_data`)
    }
    let one = dir.path().join("one");
    ok(&curate("run", &in_dir, &one, &[], &[]));
    let want = files(&one);
    let want_report = report(&one);
    assert!(want_report["rejected"]["near_duplicate"]["docs"].as_u64() > Some(0));
    for tasks in ["1", "2", "3"] {
        let out = dir.path().join(format!("t{tasks}"));
        ok(&curate(
            "run",
            &in_dir,
            &out,
            &["--executor", "local", "--tasks", tasks, "--threads", "2"],
            &[],
        ));
        assert!(files(&out) == want, "{tasks} task(s): outputs differ");
        assert_eq!(report(&out), want_report, "{tasks} task(s)");
    }

    // A task killed after its work but before its marker: the relaunch runs it again
    // (and only what is left), and the outputs are the same.
    let killed = dir.path().join("killed");
    let args = ["--tasks", "3"];
    run_aborting_in("write-00001", &in_dir, &killed, &args);
    let marker = |t: &str| marker_path(&killed, t);
    assert!(marker("decide").exists() && !marker("write-00001").exists());
    assert!(!killed.join("report.json").exists());
    let before = std::fs::metadata(marker("scan-00000"))
        .unwrap()
        .modified()
        .unwrap();
    ok(&curate("run", &in_dir, &killed, &args, &[]));
    let after = std::fs::metadata(marker("scan-00000"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "a completed task was rerun");
    assert!(files(&killed) == want);
    assert_eq!(report(&killed), want_report);

    // Another task count for the same job is refused.
    let o = curate("run", &in_dir, &killed, &["--tasks", "2"], &[]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && msg.contains("--tasks 3"), "{msg}");

    // A truncated scan intermediate: the decide task names the file and the task to
    // relaunch; relaunching that task alone fixes it.
    let scan1 = killed.join(".state/exec/scan-00001.bin");
    let bytes = std::fs::read(&scan1).unwrap();
    std::fs::write(&scan1, &bytes[..bytes.len() / 2]).unwrap();
    let o = curate("task", &in_dir, &killed, &["--tasks", "3", "decide"], &[]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && msg.contains("scan-00001.bin")
            && msg.contains("relaunch task scan-00001"),
        "{msg}"
    );
    ok(&curate(
        "task",
        &in_dir,
        &killed,
        &["--tasks", "3", "scan-00001"],
        &[],
    ));
    assert_eq!(std::fs::read(&scan1).unwrap(), bytes);

    // One from another job (a different config): refused by name. A relaunched run
    // reruns the task that wrote it (its marker was dropped), then the rest.
    let other = dir.path().join("other");
    ok(&curate(
        "run",
        &in_dir,
        &other,
        &["--tasks", "3", "--set", "filters.length.min_words=10"],
        &[],
    ));
    let dec = ".state/exec/decisions-00002.bin";
    std::fs::copy(other.join(dec), killed.join(dec)).unwrap();
    let o = curate(
        "task",
        &in_dir,
        &killed,
        &["--tasks", "3", "write-00002"],
        &[],
    );
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && msg.contains("decisions-00002.bin")
            && msg.contains("another job")
            && msg.contains("relaunch task cluster"),
        "{msg}"
    );
    std::fs::remove_file(marker("finish")).unwrap();
    ok(&curate("run", &in_dir, &killed, &args, &[]));
    assert!(files(&killed) == want);
    assert_eq!(report(&killed), want_report);
}

#[test]
fn dry_run_prints_the_task_graph_and_memory_per_task() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..4 {
        std::fs::write(dir.join(format!("{i}.jsonl")), "{\"text\": \"x\"}\n").unwrap();
    }
    let out = root.path().join("out");
    let o = Command::new(BIN)
        .args([
            "run",
            "--dry-run",
            "--tasks",
            "2",
            "--mem-per-task",
            "1G",
            "-i",
        ])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    for want in [
        "task graph",
        "scan        2 task(s)  [scan-00000 .. scan-00001]",
        "exact       2 task(s)  [exact-00000 .. exact-00001]",
        "decide      1 task(s)",
        "band       ",
        "cluster     1 task(s)",
        "write       2 task(s)",
        "est. memory per task",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!out.exists());
    let o = Command::new(BIN)
        .args(["run", "--dry-run", "--tasks", "5", "-i"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && msg.contains("more than the 4 input"),
        "{msg}"
    );
}

/// The report's `exec` section: per stage, tasks, seconds, CPU seconds, peak RSS, spills.
fn exec_section(out: &Path) -> serde_json::Value {
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    r["exec"].clone()
}

/// The report without what depends on where band tables lived (memory, spills).
fn without_spill_facts(mut r: serde_json::Value) -> serde_json::Value {
    let stats = r["near_dedup"]["stats"].as_object_mut().unwrap();
    for k in ["spilled", "spill_runs", "index_bytes_per_doc"] {
        stats.shift_remove(k);
    }
    r
}

#[test]
fn partitioned_near_dup_spans_tasks_spills_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    if inputs(&in_dir).is_none() {
        return; // shared data absent and the skip asked for (see `shared_data`)
    }
    let one = dir.path().join("one");
    ok(&curate("run", &in_dir, &one, &[], &[]));
    let want = files(&one);
    let want_report = report(&one);

    // The duplicates this test is about: first documents in another file and scan task.
    let rejected = read_shards(&one.join("rejected"));
    let reason_of = |suffix: &str| -> Vec<(String, String)> {
        rejected
            .iter()
            .filter(|d| d["id"].as_str().unwrap().ends_with(suffix))
            .map(|d| {
                let of = d["duplicate_of"].as_str().unwrap_or("").to_string();
                (d["reject_reason"].as_str().unwrap().to_string(), of)
            })
            .collect()
    };
    let copies = reason_of("-copy");
    assert!(
        copies
            .iter()
            .any(|(r, of)| r == "exact_duplicate" && !of.ends_with("-copy")),
        "{copies:?}"
    );
    let edits = reason_of("-edit");
    assert!(
        edits.iter().filter(|(r, _)| r == "near_duplicate").count() >= 4,
        "{edits:?}"
    );

    // A budget so small that every band task spills its table in sorted runs, the cluster
    // task sorts its links in runs on disk, and the scan and write tasks read in small
    // batches.
    let spilled = dir.path().join("spilled");
    let small = ["--tasks", "2", "--mem-per-task", "4096", "--threads", "2"];
    ok(&curate("run", &in_dir, &spilled, &small, &[]));
    assert!(
        files(&spilled) == want,
        "spilled band tables and cluster links: outputs differ"
    );
    let exec = &exec_section(&spilled);
    assert!(exec["band"]["spill_runs"].as_u64().unwrap() > 0, "{exec}");
    assert!(
        exec["cluster"]["spill_runs"].as_u64().unwrap() > 1,
        "{exec}"
    );
    for stage in ["scan", "band", "cluster", "write"] {
        assert!(exec[stage]["cpu_seconds"].as_f64().unwrap() > 0.0, "{exec}");
    }
    // The band tasks checked their links a chunk of shingle sets at a time: more passes
    // over the set files than bands.
    let set_passes = |e: &serde_json::Value| e["band"]["set_passes"].as_u64().unwrap();
    let bands = exec["band"]["tasks"].as_u64().unwrap();
    let chunked_passes = set_passes(exec);
    assert!(chunked_passes > bands, "{exec}");
    let got = report(&spilled);
    assert_eq!(got["near_dedup"]["stats"]["spilled"], true);
    assert_eq!(
        without_spill_facts(got),
        without_spill_facts(want_report.clone())
    );

    // A band task killed after its work, before its marker: the relaunch reruns it.
    let killed = dir.path().join("killed");
    let args = ["--tasks", "3"];
    run_aborting_in("band-00001", &in_dir, &killed, &args);
    let marker = |t: &str| marker_path(&killed, t);
    assert!(!marker("band-00001").exists() && !marker("cluster").exists());
    ok(&curate("run", &in_dir, &killed, &args, &[]));
    assert!(files(&killed) == want);
    assert_eq!(report(&killed), want_report);
    // Without a budget nothing spills.
    let exec = &exec_section(&killed);
    assert_eq!(exec["cluster"]["spill_runs"], 0, "{exec}");
    assert_eq!(exec["band"]["spill_runs"], 0, "{exec}");
    assert!(set_passes(exec) <= bands, "{exec}");

    // A band output removed mid-job: the cluster task names it and the task to relaunch;
    // a relaunched run reruns only that band, the cluster and what follows.
    let band2 = killed.join(".state/exec/band-00002.bin");
    std::fs::remove_file(&band2).unwrap();
    for t in [
        "cluster",
        "write-00000",
        "write-00001",
        "write-00002",
        "finish",
    ] {
        std::fs::remove_file(marker(t)).unwrap();
    }
    let o = curate("task", &in_dir, &killed, &["--tasks", "3", "cluster"], &[]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && msg.contains("band-00002.bin")
            && msg.contains("relaunch task band-00002"),
        "{msg}"
    );
    let before = std::fs::metadata(marker("band-00000"))
        .unwrap()
        .modified()
        .unwrap();
    ok(&curate("run", &in_dir, &killed, &args, &[]));
    let after = std::fs::metadata(marker("band-00000"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "a completed band task was rerun");
    assert!(files(&killed) == want);
    assert_eq!(report(&killed), want_report);
}

#[test]
fn bounded_decide_and_finish_equal_the_one_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let in_dir = dir.path().join("in");
    std::fs::create_dir(&in_dir).unwrap();
    if inputs(&in_dir).is_none() {
        return; // shared data absent and the skip asked for (see `shared_data`)
    }
    // Three documents whose ids earlier documents have (in another file and scan task).
    let first = zstd::decode_all(std::fs::File::open(in_dir.join("in0.jsonl.zst")).unwrap());
    let first = String::from_utf8(first.unwrap()).unwrap();
    let again: Vec<String> = first
        .lines()
        .take(3)
        .map(|line| {
            let mut d: serde_json::Value = serde_json::from_str(line).unwrap();
            d["text"] = format!("Again: {}", d["text"].as_str().unwrap()).into();
            d.to_string()
        })
        .collect();
    zstd_file(
        &in_dir.join("in5.jsonl.zst"),
        format!("{}\n", again.join("\n")).as_bytes(),
    );
    // Ties (many confidences are 1.0) go to the earlier document in input order.
    let select = [
        "--set",
        "language.enabled=true",
        "--set",
        r#"select.policies=["lang_conf:top=0.7", "lang_conf:bottom=0.9"]"#,
    ];
    let one = dir.path().join("one");
    ok(&curate("run", &in_dir, &one, &select, &[]));
    let want = files(&one);
    let want_report = report(&one);
    assert_eq!(want_report["duplicate_ids"], 3);
    let policies = &want_report["selection"]["policies"];
    assert!(
        policies[0]["removed_docs"].as_u64() > Some(50),
        "{policies}"
    );
    assert!(
        policies[1]["removed_docs"].as_u64() > Some(20),
        "{policies}"
    );
    let exec = |out: &Path| stable_report(out)["exec"].clone();
    let mut passes = Vec::new();
    for (name, budget) in [("ample", None), ("small", Some("4096"))] {
        let out = dir.path().join(name);
        let mut args = vec!["--tasks", "3", "--threads", "2"];
        args.extend(select);
        if let Some(b) = budget {
            args.extend(["--mem-per-task", b]);
        }
        ok(&curate("run", &in_dir, &out, &args, &[]));
        assert!(files(&out) == want, "{name} budget: outputs differ");
        let got = report(&out);
        let got = if budget.is_some() {
            without_spill_facts(got)
        } else {
            got
        };
        let want = if budget.is_some() {
            without_spill_facts(want_report.clone())
        } else {
            want_report.clone()
        };
        assert_eq!(got, want, "{name} budget");
        let e = exec(&out);
        passes.push(e["decide"]["select_passes"].as_u64().unwrap());
        // Under the budget the ids' duplicate check ran over spilled hash partitions.
        let parts = e["finish"]["id_partitions"].as_u64().unwrap();
        assert_eq!(parts > 1, budget.is_some(), "{name}: {parts} id partitions");
    }
    // One pass per top / bottom policy with every key in memory; radix passes under the
    // small budget (a quarter of 4 KiB holds 42 keys, not the hundreds alive).
    assert_eq!(passes[0], 2);
    assert!(passes[1] > 4, "{passes:?}");

    // A worker's `task` command carries no --mem-per-task (Ray, Slurm): decide and finish
    // still run under the budget the job's init recorded.
    let small = dir.path().join("small");
    for task in ["decide", "finish"] {
        let mut args = vec!["--tasks", "3", "--threads", "2"];
        args.extend(select);
        args.push(task);
        ok(&curate("task", &in_dir, &small, &args, &[]));
    }
    let e = exec(&small);
    assert_eq!(
        e["decide"]["select_passes"].as_u64(),
        Some(passes[1]),
        "{e}"
    );
    assert!(e["finish"]["id_partitions"].as_u64() > Some(1), "{e}");
    assert!(files(&small) == want);
}
