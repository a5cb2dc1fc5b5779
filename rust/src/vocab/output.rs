//! The extended tokenizer.json: the base file with the new tokens appended to the model's
//! vocabulary and the new merges appended to its merge list (in the file's own merge format),
//! everything else untouched. It is then loaded back with the `tokenizers` crate and every old
//! id is checked to keep its spelling.

use super::base::BaseTokenizer;
use crate::{Error, Result};
use serde_json::Value;
use tokenizers::Tokenizer;

/// The extended file's bytes (pretty JSON, as Hugging Face writes it).
pub fn extended_json(
    base: &BaseTokenizer,
    new_tokens: &[(String, u32)],
    merges: &[(String, String)],
) -> Result<Vec<u8>> {
    let bad = |what: &str| {
        Error::Tokenizer(format!(
            "{}: unexpected tokenizer.json layout: {what}",
            base.path.display()
        ))
    };
    let mut json = base.json.clone();
    let model = json
        .get_mut("model")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| bad("no \"model\" object"))?;
    let vocab = model
        .get_mut("vocab")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| bad("no \"model.vocab\" object"))?;
    for (token, id) in new_tokens {
        vocab.insert(token.clone(), Value::from(*id));
    }
    let list = model
        .get_mut("merges")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("no \"model.merges\" list"))?;
    // Older files spell a merge "a b", newer ones ["a", "b"]: keep the file's convention.
    let as_strings = list.first().is_some_and(Value::is_string);
    for (a, b) in merges {
        list.push(if as_strings {
            Value::from(format!("{a} {b}"))
        } else {
            Value::from(vec![a.clone(), b.clone()])
        });
    }
    let mut bytes = serde_json::to_vec_pretty(&json)
        .map_err(|e| Error::Tokenizer(format!("cannot serialize the extended tokenizer: {e}")))?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Load the extended bytes with `tokenizers` and check that every base spelling keeps its id
/// and every new token has the id it was given. Returns the tokenizer and the ids checked.
pub fn verify(
    base: &BaseTokenizer,
    bytes: &[u8],
    new_tokens: &[(String, u32)],
) -> Result<(Tokenizer, usize)> {
    let ext = Tokenizer::from_bytes(bytes).map_err(|e| {
        Error::Tokenizer(format!(
            "the extended tokenizer does not load back: {e} (a bug)"
        ))
    })?;
    let mut checked = 0usize;
    for (token, &id) in &base.taken {
        if ext.token_to_id(token) != Some(id) {
            return Err(Error::Tokenizer(format!(
                "extended tokenizer: old token {token:?} lost its id {id} (a bug)"
            )));
        }
        checked += 1;
    }
    for (token, id) in new_tokens {
        if ext.token_to_id(token) != Some(*id) {
            return Err(Error::Tokenizer(format!(
                "extended tokenizer: new token {token:?} does not have id {id} (a bug)"
            )));
        }
    }
    let want = base.taken.len() + new_tokens.len();
    if ext.get_vocab_size(true) != want {
        return Err(Error::Tokenizer(format!(
            "extended tokenizer has {} tokens, expected {want} (a bug)",
            ext.get_vocab_size(true)
        )));
    }
    Ok((ext, checked))
}
