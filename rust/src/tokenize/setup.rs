//! Loading a tokenizer.json and working out what the shards need from it: its identity hash,
//! the id width, which special tokens the post-processor adds (BOS, maybe EOS), and the EOS id.

use crate::shard::format::{checksum_string, Dtype};
use crate::{Error, Result};
use std::path::Path;
use tokenizers::Tokenizer;
use xxhash_rust::xxh3::xxh3_64;

/// EOS spellings tried, in order, when neither the flag nor the post-processor names one.
const EOS_CANDIDATES: [&str; 8] = [
    "<|endoftext|>",
    "</s>",
    "<eos>",
    "<|end_of_text|>",
    "<|eos|>",
    "[EOS]",
    "<end_of_text>",
    "<|end|>",
];

pub struct TokenizerSetup {
    pub tokenizer: Tokenizer,
    pub hash: String,
    pub file_name: String,
    pub vocab_size: u64,
    pub dtype: Dtype,
    pub eos_id: u32,
    pub eos_token: String,
    pub bos_id: Option<u32>,
    pub bos_token: Option<String>,
    /// The post-processor already ends every encoding with EOS: do not append another.
    pub post_adds_eos: bool,
    /// Tokens per document that are not content (post-processor specials plus an appended EOS).
    pub specials_per_doc: u64,
}

/// The identity of a tokenizer: XXH3-64 of its tokenizer.json bytes.
pub fn tokenizer_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(checksum_string(xxh3_64(&bytes)))
}

impl TokenizerSetup {
    pub fn load(path: &Path, eos_flag: Option<&str>) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut tokenizer = Tokenizer::from_bytes(&bytes)
            .map_err(|e| Error::Tokenizer(format!("cannot load {}: {e}", path.display())))?;
        // Shards hold whole documents: no truncation, no padding, whatever the file says.
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        tokenizer.with_padding(None);
        let vocab_size = tokenizer
            .get_vocab(true)
            .values()
            .map(|&id| u64::from(id) + 1)
            .max()
            .unwrap_or(0);
        if vocab_size == 0 {
            return Err(Error::Tokenizer(format!(
                "{} has an empty vocabulary",
                path.display()
            )));
        }

        // Which tokens does the post-processor add around a text? Compare with and without.
        let probe = "a";
        let enc = |special: bool| {
            tokenizer
                .encode_fast(probe, special)
                .map(|e| e.get_ids().to_vec())
                .map_err(|e| {
                    Error::Tokenizer(format!(
                        "{}: cannot encode a probe text: {e}",
                        path.display()
                    ))
                })
        };
        let (with, without) = (enc(true)?, enc(false)?);
        let at = (0..=with.len().saturating_sub(without.len()))
            .find(|&i| with[i..].starts_with(&without))
            .ok_or_else(|| {
                Error::Tokenizer(format!(
                    "{}: the post-processor changes the text's tokens",
                    path.display()
                ))
            })?;
        let (prefix, suffix) = (&with[..at], &with[at + without.len()..]);
        let name = |id: u32| tokenizer.id_to_token(id).unwrap_or_default();

        let bos_id = prefix.first().copied();
        let (eos_id, post_adds_eos) = match eos_flag {
            Some(tok) => {
                let id = tokenizer.token_to_id(tok).ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "--eos-token {tok:?} is not in the vocabulary of {}",
                        path.display()
                    ))
                })?;
                (id, suffix.last() == Some(&id))
            }
            None => match suffix.last() {
                Some(&id) => (id, true),
                None => {
                    let id = EOS_CANDIDATES.iter().find_map(|t| tokenizer.token_to_id(t)).ok_or_else(|| {
                        Error::Tokenizer(format!(
                            "{}: no EOS token found (tried the post-processor and {}); pass --eos-token",
                            path.display(),
                            EOS_CANDIDATES.join(", ")
                        ))
                    })?;
                    (id, false)
                }
            },
        };
        let specials_per_doc = (prefix.len() + suffix.len()) as u64 + u64::from(!post_adds_eos);
        Ok(TokenizerSetup {
            hash: checksum_string(xxh3_64(&bytes)),
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            vocab_size,
            dtype: Dtype::for_vocab(vocab_size),
            eos_id,
            eos_token: name(eos_id),
            bos_id,
            bos_token: bos_id.map(name),
            post_adds_eos,
            specials_per_doc,
            tokenizer,
        })
    }

    /// The token ids of one document as stored: post-processor specials, then EOS.
    pub fn encode(&self, text: &str) -> std::result::Result<Vec<u32>, String> {
        let enc = self
            .tokenizer
            .encode_fast(text, true)
            .map_err(|e| e.to_string())?;
        let mut ids = enc.get_ids().to_vec();
        if !self.post_adds_eos {
            ids.push(self.eos_id);
        }
        Ok(ids)
    }
}
