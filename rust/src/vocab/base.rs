//! The base tokenizer of an extension: loaded with the `tokenizers` crate (for encoding) and as
//! JSON (for writing the extended file), and checked to be a byte-level BPE the extension can
//! continue. Other model types get an error that says what extending them would take.

use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::BPE;
use tokenizers::{ModelWrapper, Tokenizer};

/// A loaded, supported base tokenizer.
pub struct BaseTokenizer {
    pub path: PathBuf,
    /// The file's bytes (their hash is the tokenizer's identity in manifests).
    pub bytes: Vec<u8>,
    /// The file as JSON, field order kept, for writing the extended copy.
    pub json: Value,
    pub tokenizer: Tokenizer,
    /// Token string of every model id (byte-level alphabet strings, e.g. `Ġlicense`).
    pub model_tokens: HashMap<u32, String>,
    /// Every spelling already taken: model vocabulary plus added tokens.
    pub taken: HashMap<String, u32>,
    /// The first id after the whole current vocabulary (model and added tokens).
    pub next_id: u32,
}

impl BaseTokenizer {
    pub fn load(path: &Path) -> Result<BaseTokenizer> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Tokenizer(format!("{}: not a tokenizer.json: {e}", path.display()))
        })?;
        let tokenizer = Tokenizer::from_bytes(&bytes)
            .map_err(|e| Error::Tokenizer(format!("cannot load {}: {e}", path.display())))?;
        let bpe = supported_bpe(path, &tokenizer, &json)?;
        let model_vocab = bpe.get_vocab();
        let model_tokens: HashMap<u32, String> =
            model_vocab.iter().map(|(t, &id)| (id, t.clone())).collect();
        let taken = tokenizer.get_vocab(true);
        let next_id = taken.values().copied().max().map_or(0, |m| m + 1);
        Ok(BaseTokenizer {
            path: path.to_path_buf(),
            bytes,
            json,
            tokenizer,
            model_tokens,
            taken,
            next_id,
        })
    }

    /// The BPE model (checked at load time).
    pub fn bpe(&self) -> &BPE {
        match self.tokenizer.get_model() {
            ModelWrapper::BPE(bpe) => bpe,
            _ => unreachable!("checked by BaseTokenizer::load"),
        }
    }
}

/// The BPE model of `tokenizer` if extension supports it, else an error naming what is missing.
fn supported_bpe<'t>(path: &Path, tokenizer: &'t Tokenizer, json: &Value) -> Result<&'t BPE> {
    let name = path.display();
    let bpe = match tokenizer.get_model() {
        ModelWrapper::BPE(bpe) => bpe,
        ModelWrapper::Unigram(_) => {
            return Err(Error::Tokenizer(format!(
                "{name}: a Unigram (SentencePiece) model has no merges to continue; extending it \
                 would need new pieces scored by re-running the Unigram EM over the domain corpus \
                 (SentencePiece's trainer), which cpt does not do. Only byte-level BPE is supported"
            )))
        }
        ModelWrapper::WordPiece(_) => {
            return Err(Error::Tokenizer(format!(
            "{name}: a WordPiece model encodes by greedy longest match with a '##' continuation \
                 prefix, so appended merges would not apply; extending it would need WordPiece's \
                 likelihood-scored vocabulary growth. Only byte-level BPE is supported"
        )))
        }
        ModelWrapper::WordLevel(_) => {
            return Err(Error::Tokenizer(format!(
                "{name}: a WordLevel model has no subword merges; new whole words would have to be \
                 added tokens. Only byte-level BPE is supported"
            )))
        }
    };
    let unsupported = |why: &str| {
        Err(Error::Tokenizer(format!(
            "{name}: {why}; only byte-level BPE (GPT-2, Llama-3, SmolLM2 families) is supported"
        )))
    };
    if !json_has_type(&json["pre_tokenizer"], "ByteLevel") {
        return unsupported(
            "the pre-tokenizer is not ByteLevel (a SentencePiece-style BPE with Metaspace and \
             <0xNN> byte-fallback pieces would need merges kept away from the fallback pieces)",
        );
    }
    if bpe.byte_fallback {
        return unsupported("the BPE model uses byte fallback");
    }
    if bpe
        .continuing_subword_prefix
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        || bpe
            .end_of_word_suffix
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    {
        return unsupported("the BPE model uses a continuing-subword prefix or end-of-word suffix");
    }
    if bpe.dropout.is_some_and(|p| p > 0.0) {
        return unsupported("BPE dropout is on (encodings would not be deterministic)");
    }
    Ok(bpe)
}

/// Whether a tokenizer.json component (or one inside a `Sequence`) has `"type": ty`.
fn json_has_type(v: &Value, ty: &str) -> bool {
    match v {
        Value::Object(map) => {
            map.get("type").and_then(Value::as_str) == Some(ty)
                || map.values().any(|x| json_has_type(x, ty))
        }
        Value::Array(items) => items.iter().any(|x| json_has_type(x, ty)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_byte_level_inside_sequences() {
        let llama3 = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "x"}},
            {"type": "ByteLevel", "add_prefix_space": false}
        ]});
        assert!(json_has_type(&llama3, "ByteLevel"));
        assert!(!json_has_type(
            &json!({"type": "Metaspace", "replacement": "▁"}),
            "ByteLevel"
        ));
        assert!(!json_has_type(&Value::Null, "ByteLevel"));
    }
}
