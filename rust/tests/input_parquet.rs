//! Parquet input through the one input layer: a Parquet file and the JSONL file `serde_json`
//! writes from the same records give the same records, byte-identical curation outputs,
//! token shards and near-dup sketches; damaged files and column types without a JSON form
//! are errors naming the file (and the row group or column). The fixtures are written here
//! with the `parquet` crate's own Arrow writer.

mod curate_common;
mod shared_data;
use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields, Schema};
use cpt_engine::dedup::{nearfile, MinHashConfig, NearDup};
use cpt_engine::input::{for_each_text, RecordReader};
use cpt_engine::pipeline::{run, RunOptions};
use curate_common::{config, output_files, prose, stable_report};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One fixture record; `None` fields are nulls.
struct Rec {
    id: Option<String>,
    text: String,
    source: Option<&'static str>,
    score: f64,
    n: Option<i64>,
    tags: Vec<&'static str>,
    lang: &'static str,
    year: i32,
    ok: bool,
}

/// Documents that every stage acts on: kept prose, an exact copy, a near copy, one too short,
/// one with an e-mail address (redacted), ids missing (generated), text with escapes.
fn records() -> Vec<Rec> {
    let mut recs = Vec::new();
    for i in 0..40usize {
        let mut text = prose(i, 60 + i * 7);
        if i == 5 {
            text = "too short".into();
        }
        if i == 9 {
            text.push_str("\nWrite to jane.doe@example.org about \"quotes\" and \\ tabs\t.");
        }
        if i == 17 {
            text = prose(3, 60 + 3 * 7); // exact copy of 3
        }
        if i == 23 {
            text = prose(4, 60 + 4 * 7).replacen("the", "a", 1); // near copy of 4
        }
        if i == 30 {
            text.push_str(" — naïve 東京 ✓");
        }
        recs.push(Rec {
            id: (i % 6 != 2).then(|| format!("doc-{i}")),
            text,
            source: (i % 4 != 1).then_some(if i % 2 == 0 { "web" } else { "books" }),
            score: i as f64 * 0.25 + 0.1,
            n: (i % 5 != 0).then_some(i as i64 * 1_000_003 - 7),
            tags: ["a", "b", "c"][..i % 4].to_vec(),
            lang: if i % 3 == 0 { "en" } else { "de" },
            year: 1990 + i as i32,
            ok: i % 2 == 0,
        });
    }
    recs
}

fn jsonl_line(r: &Rec) -> String {
    json!({
        "id": r.id,
        "text": r.text,
        "source": r.source,
        "score": r.score,
        "n": r.n,
        "tags": r.tags,
        "meta": {"lang": r.lang, "year": r.year},
        "ok": r.ok,
    })
    .to_string()
}

fn write_jsonl(path: &Path, recs: &[Rec]) {
    let body: String = recs.iter().map(|r| jsonl_line(r) + "\n").collect();
    std::fs::write(path, body).unwrap();
}

fn batch(recs: &[Rec]) -> RecordBatch {
    let meta_fields = Fields::from(vec![
        Field::new("lang", DataType::Utf8, false),
        Field::new("year", DataType::Int32, false),
    ]);
    let mut tags = ListBuilder::new(StringBuilder::new());
    for r in recs {
        for t in &r.tags {
            tags.values().append_value(t);
        }
        tags.append(true);
    }
    let tags = tags.finish();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new("text", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("score", DataType::Float64, false),
        Field::new("n", DataType::Int64, true),
        Field::new("tags", tags.data_type().clone(), true),
        Field::new("meta", DataType::Struct(meta_fields.clone()), false),
        Field::new("ok", DataType::Boolean, false),
    ]);
    let meta = StructArray::new(
        meta_fields,
        vec![
            Arc::new(StringArray::from_iter_values(recs.iter().map(|r| r.lang))) as ArrayRef,
            Arc::new(Int32Array::from_iter_values(recs.iter().map(|r| r.year))),
        ],
        None,
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            recs.iter()
                .map(|r| r.id.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(StringArray::from_iter_values(
            recs.iter().map(|r| r.text.as_str()),
        )),
        Arc::new(recs.iter().map(|r| r.source).collect::<StringArray>()),
        Arc::new(Float64Array::from_iter_values(recs.iter().map(|r| r.score))),
        Arc::new(recs.iter().map(|r| r.n).collect::<Int64Array>()),
        Arc::new(tags),
        Arc::new(meta),
        Arc::new(recs.iter().map(|r| Some(r.ok)).collect::<BooleanArray>()),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

/// Several row groups of `group_rows` rows, zstd-compressed.
fn write_parquet(path: &Path, batch: &RecordBatch, group_rows: usize) {
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap()))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// A directory each for `docs.jsonl` and `docs.parquet` holding the same records.
fn fixture(root: &Path) -> (PathBuf, PathBuf) {
    let recs = records();
    let (j, p) = (root.join("jsonl"), root.join("parquet"));
    std::fs::create_dir_all(&j).unwrap();
    std::fs::create_dir_all(&p).unwrap();
    write_jsonl(&j.join("docs.jsonl"), &recs);
    write_parquet(&p.join("docs.parquet"), &batch(&recs), 7);
    (j.join("docs.jsonl"), p.join("docs.parquet"))
}

fn all_records(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = RecordReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        out.push((rec.number, rec.bytes.to_vec()));
    }
    out
}

#[test]
fn parquet_rows_are_the_records_of_the_same_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, parquet) = fixture(dir.path());
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&parquet).unwrap())
            .unwrap(),
    )
    .clone();
    assert_eq!(meta.num_row_groups(), 6, "40 rows in groups of 7");
    let want = all_records(&jsonl);
    assert_eq!(want.len(), 40);
    let got = all_records(&parquet);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(
            String::from_utf8_lossy(&g.1),
            String::from_utf8_lossy(&w.1),
            "row {}",
            w.0
        );
    }
    assert_eq!(got, want);
    // Numbers are 1-based row indexes across row groups, like lines.
    assert_eq!(got.last().unwrap().0, 40);
    let mut texts = Vec::new();
    for_each_text(&parquet, "text", |n, t| {
        texts.push((n, t));
        Ok(())
    })
    .unwrap();
    assert_eq!(texts.len(), 40);
    assert_eq!(texts[9].1, records()[9].text);
    let err = for_each_text(&parquet, "body", |_, _| Ok(())).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("docs.parquet:1: missing field `body`"),
        "{err}"
    );
}

#[test]
fn parquet_and_jsonl_give_byte_identical_curation_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, parquet) = fixture(dir.path());
    let quiet = RunOptions {
        quiet: true,
        ..Default::default()
    };
    let mut outputs = Vec::new();
    for (input, out) in [(&jsonl, "out-jsonl"), (&parquet, "out-parquet")] {
        let out = dir.path().join(out);
        let report = run(&config(&[input], &out, &["threads=2"]), &quiet).unwrap();
        assert_eq!(report.input_docs, 40);
        let mut stable = stable_report(&out);
        let o = stable.as_object_mut().unwrap();
        o.shift_remove("inputs");
        o["config"].as_object_mut().unwrap().shift_remove("inputs");
        outputs.push((output_files(&out), stable, report));
    }
    let (j, p) = (&outputs[0], &outputs[1]);
    assert_eq!(p.0, j.0, "kept and rejected shards differ");
    assert_eq!(p.1, j.1, "reports differ");
    // Every stage acted on the fixture, so the comparison covers them all.
    let r = &j.2;
    for reason in ["exact_duplicate", "near_duplicate", "length"] {
        assert!(
            r.rejected.get(reason).is_some_and(|c| c.docs > 0),
            "{reason}: {:?}",
            r.rejected
        );
    }
    assert_eq!(r.pii.docs_with_pii, 1);
    let kept = curate_common::read_shards(&dir.path().join("out-parquet/kept"));
    assert!(kept.iter().any(|d| d["id"] == "docs:3"));
    assert!(kept.iter().all(|d| d["meta"]["lang"].is_string()));
}

#[test]
fn parquet_and_ndjson_dirs_tokenize_alike() {
    let Some(tok) = shared_data::path("tokenizers/smollm2-135m.tokenizer.json") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, _) = fixture(dir.path());
    // `tokenize -i dir/` reads `.ndjson` (and `.parquet`) like `run` does.
    let nd = dir.path().join("nd");
    std::fs::create_dir(&nd).unwrap();
    std::fs::rename(&jsonl, nd.join("docs.ndjson")).unwrap();
    let mut shards = Vec::new();
    for input in [nd, dir.path().join("parquet")] {
        let out = dir.path().join(format!(
            "tok-{}",
            input.file_name().unwrap().to_string_lossy()
        ));
        let args = [
            "cpt-curate",
            "tokenize",
            "-i",
            input.to_str().unwrap(),
            "-t",
            tok.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--quiet",
        ];
        assert_eq!(cpt_engine::cli::main_with_args(args), 0);
        let report: Value =
            serde_json::from_slice(&std::fs::read(out.join("tokenize_report.json")).unwrap())
                .unwrap();
        assert_eq!(report["docs"], 40);
        shards.push(std::fs::read(out.join("shard-00000.cpts")).unwrap());
    }
    assert_eq!(shards[0], shards[1]);
}

#[test]
fn parquet_near_dup_sketches_match_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, parquet) = fixture(dir.path());
    let nd = NearDup::new(&MinHashConfig::default()).unwrap();
    let a = nearfile::sketch_jsonl(&nd, &jsonl).unwrap();
    let b = nearfile::sketch_jsonl(&nd, &parquet).unwrap();
    assert_eq!(a.len(), 40);
    assert_eq!(a, b);
    let (n, outcome) = nearfile::dedup_jsonl(&nd, &parquet, None).unwrap();
    assert_eq!(n, 40);
    assert!(!outcome.duplicates.is_empty());
}

#[test]
fn truncated_or_corrupt_parquet_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, parquet) = fixture(dir.path());
    let bytes = std::fs::read(&parquet).unwrap();
    let out = dir.path().join("out");
    let curate = |input: &Path| {
        run(
            &config(&[input], &out, &[]),
            &RunOptions {
                quiet: true,
                overwrite: true,
            },
        )
        .expect_err("a damaged file is an error")
        .to_string()
    };

    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = curate(&cut);
    assert!(
        err.starts_with(&format!("{}: not a readable Parquet file", cut.display())),
        "{err}"
    );

    // Damage the middle of the text column's data in the third row group.
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&parquet).unwrap())
            .unwrap(),
    )
    .clone();
    let col = meta.row_group(2).column(1);
    // The chunk starts at its dictionary page when it has one (then the data page is small).
    let first = col
        .dictionary_page_offset()
        .unwrap_or(col.data_page_offset());
    let start = usize::try_from(first.min(col.data_page_offset())).unwrap();
    let len = usize::try_from(col.compressed_size()).unwrap();
    let mut damaged = bytes.clone();
    for b in &mut damaged[start + len / 3..start + 2 * len / 3] {
        *b ^= 0x5A;
    }
    let bad = dir.path().join("bad.parquet");
    std::fs::write(&bad, damaged).unwrap();
    let err = curate(&bad);
    assert!(
        err.starts_with(&format!(
            "{}: corrupt Parquet row group 2 (rows 15..21)",
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn columns_without_a_json_form_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::new(vec![
        Field::new("text", DataType::Utf8, false),
        Field::new("blob", DataType::Binary, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(BinaryArray::from(vec![b"\x00\x01".as_slice()])),
        ],
    )
    .unwrap();
    let path = dir.path().join("blob.parquet");
    write_parquet(&path, &batch, 10);
    let err = RecordReader::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("blob.parquet") && err.contains("column `blob` has type Binary"),
        "{err}"
    );
}
