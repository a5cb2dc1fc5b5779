//! The shared-data policy of the integration tests: missing data is an error that names the
//! opt-out, and only the opt-out turns it into a skip.

mod shared_data;
use shared_data::{locate, SKIP_VAR};

#[test]
fn missing_shared_data_fails_unless_skipped_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let start = dir.path().join("repo/rust");
    std::fs::create_dir_all(&start).unwrap();
    let err = locate(&start, "", false).unwrap_err();
    assert!(
        err.contains("shared/data") && err.contains(SKIP_VAR),
        "{err}"
    );
    assert_eq!(locate(&start, "", true).unwrap(), None);

    // Found by walking up; a missing file inside it is missing data too.
    let data = dir.path().join("shared/data");
    std::fs::create_dir_all(data.join("tokenizers")).unwrap();
    std::fs::write(data.join("tokenizers/t.json"), b"{}").unwrap();
    assert_eq!(locate(&start, "", false).unwrap(), Some(data.clone()));
    assert_eq!(
        locate(&start, "tokenizers/t.json", false).unwrap(),
        Some(data.join("tokenizers/t.json"))
    );
    let err = locate(&start, "tokenizers/other.json", false).unwrap_err();
    assert!(err.contains("tokenizers/other.json"), "{err}");
}

#[test]
fn this_checkout_has_its_shared_data_or_says_it_skips() {
    // On a machine with the corpora this finds them; without, it fails unless opted out.
    if let Some(d) = shared_data::dir() {
        assert!(
            d.join("neardup/docs.jsonl.zst").is_file(),
            "{}",
            d.display()
        );
    }
}
