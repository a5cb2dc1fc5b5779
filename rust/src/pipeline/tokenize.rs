//! The optional last stage of `cpt-curate run`, a write stage: each kept (redacted) text is
//! tokenized while the write pass holds it, per input file in parallel; the file's token
//! ids are its resume unit (`.state/tokens-NNNNN.bin`, written before its done marker).
//! Once every file is written, the units are concatenated in input order into token shards
//! (FORMAT.md), so the shards are those of tokenizing the kept shards in order. EOS is
//! decided by the engine's tokenizer setup and recorded in the manifest.

use super::state::WriteStats;
use crate::config::Config;
use crate::input::for_each_text;
use crate::io::{read_all, write_atomic};
use crate::report::{StageTiming, TokenizeSummary};
use crate::shard::manifest::InputEntry;
use crate::stage::{Build, DocPart, FileStage, Phase, StageEnd, StageSpec, WriteJob, WriteStage};
use crate::tokenize::setup::TokenizerSetup;
use crate::tokenize::sink::{self, Counters, TokenSink};
use crate::tokenize::TokenizeOptions;
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;
use xxhash_rust::xxh3::xxh3_64;

pub const STAGE: StageSpec = StageSpec {
    name: "tokenize",
    phase: Phase::Write,
    section: "tokenize",
    keys: &[
        ("enabled", "tokenize the kept documents into token shards"),
        (
            "tokenizer",
            "the model's tokenizer.json (required if enabled)",
        ),
        ("output", "token shard directory (null = <output>/tokens)"),
        (
            "shard_tokens",
            "a shard closes at the first document end past this many tokens",
        ),
        (
            "frame_tokens",
            "tokens per independently compressed zstd frame",
        ),
        ("zstd_level", "zstd level of the token frames"),
        (
            "eos_token",
            "EOS token spelling (null = from the tokenizer)",
        ),
        (
            "megatron",
            "also write Megatron-LM PREFIX.bin / PREFIX.idx (null = no)",
        ),
    ],
    enabled: |c| c.tokenize.enabled,
    plan: |c| {
        let t = &c.tokenize;
        let file = t.tokenizer.as_deref().unwrap_or_default();
        if !Path::new(file).is_file() {
            return Err(Error::Config(format!(
                "tokenize.tokenizer: {file} is not a file (expected the model's tokenizer.json)"
            )));
        }
        Ok(format!(
            "{file}, shard_tokens {}, frame_tokens {}, zstd {}, eos {}",
            t.shard_tokens,
            t.frame_tokens,
            t.zstd_level,
            t.eos_token.as_deref().unwrap_or("from tokenizer")
        ))
    },
    build: Build::Write(|c, state_dir| {
        Ok(Box::new(Tokenize::new(c, state_dir)?) as Box<dyn WriteStage>)
    }),
    resume: "token ids per input file (.state/tokens-NNNNN.bin); token shards that still verify (.tokenize-state.json)",
};

/// The tokenize write stage of one job.
struct Tokenize {
    setup: TokenizerSetup,
    /// The token shard options (inputs and config hash are filled in at the end).
    opts: TokenizeOptions,
    state_dir: PathBuf,
    /// Identity of the token ids (tokenizer and EOS): a unit made otherwise is redone.
    identity: u64,
}

impl Tokenize {
    fn new(config: &Config, state_dir: &Path) -> Result<Self> {
        let t = &config.tokenize;
        let opts = TokenizeOptions {
            tokenizer: PathBuf::from(t.tokenizer.as_deref().unwrap_or_default()),
            output: t.output_dir(Path::new(&config.output)),
            shard_tokens: t.shard_tokens,
            frame_tokens: t.frame_tokens,
            zstd_level: t.zstd_level,
            eos_token: t.eos_token.clone(),
            megatron: t.megatron.as_ref().map(PathBuf::from),
            config_hash: Some(config.output_hash()),
            text_key: config.text_key.clone(),
            ..TokenizeOptions::default()
        };
        let setup = TokenizerSetup::load(&opts.tokenizer, opts.eos_token.as_deref())?;
        let identity =
            xxh3_64(format!("{}:{}:{:?}", setup.hash, setup.eos_id, setup.bos_id).as_bytes());
        Ok(Tokenize {
            setup,
            opts,
            state_dir: state_dir.to_path_buf(),
            identity,
        })
    }

    fn unit_path(&self, file: usize) -> PathBuf {
        self.state_dir.join(format!("tokens-{file:05}.bin"))
    }

    /// File `file`'s unit, or (when a resumed job has none of this identity, e.g. the
    /// stage was switched on after the file was written) its kept shards tokenized again.
    fn unit(&self, job: &WriteJob<'_>, file: usize) -> Result<Unit> {
        let path = self.unit_path(file);
        if path.exists() {
            let unit = Unit::decode(&read_all(&path)?).map_err(|msg| Error::Corrupt {
                path: path.clone(),
                msg: format!("{msg}; pass --overwrite to start over"),
            })?;
            if unit.identity == self.identity {
                return Ok(unit);
            }
        }
        let mut unit = Unit::new(self.identity);
        for shard in &job.kept_shards[file] {
            let shard = job.output.join(shard);
            let mut texts = Vec::new();
            for_each_text(&shard, &self.opts.text_key, |line, text| {
                texts.push((line, text));
                Ok(())
            })?;
            let ids: Vec<_> = texts
                .par_iter()
                .map(|(line, t)| {
                    self.setup.encode(t).map_err(|msg| Error::Input {
                        path: shard.clone(),
                        line: *line,
                        msg: format!("cannot tokenize: {msg}"),
                    })
                })
                .collect::<Result<_>>()?;
            for ((_, t), ids) in texts.iter().zip(ids) {
                unit.add(t, ids, self.opts.stats_sample_bytes);
            }
        }
        write_atomic(&path, &unit.encode())?;
        Ok(unit)
    }
}

impl WriteStage for Tokenize {
    fn name(&self) -> &'static str {
        "tokenize"
    }

    fn doc(&self, text: &str) -> std::result::Result<(Option<String>, Option<DocPart>), String> {
        let ids = self
            .setup
            .encode(text)
            .map_err(|msg| format!("cannot tokenize: {msg}"))?;
        Ok((None, Some(Box::new(ids))))
    }

    fn open(&self, file: usize) -> Result<Box<dyn FileStage>> {
        Ok(Box::new(TokenizeFile {
            path: self.unit_path(file),
            unit: Unit::new(self.identity),
            sample_bytes: self.opts.stats_sample_bytes,
        }))
    }

    /// Concatenate the files' token ids, in input order, into token shards.
    fn finish(&self, job: &WriteJob<'_>) -> Result<Option<StageEnd>> {
        let started = Instant::now();
        if job.kept_shards.iter().all(Vec::is_empty) {
            return Err(Error::Config(format!(
                "tokenize: no document was kept ({} input docs), nothing to tokenize; set tokenize.enabled=false",
                job.input_docs
            )));
        }
        let mut inputs = Vec::new();
        for shard in job.kept_shards.iter().flatten() {
            let path = job.output.join(shard);
            let bytes = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .len();
            inputs.push(InputEntry {
                path: path.to_string_lossy().into_owned(),
                bytes,
            });
        }
        let opts = TokenizeOptions {
            inputs: inputs.iter().map(|i| i.path.clone()).collect(),
            threads: Some(job.threads),
            overwrite: job.overwrite,
            ..self.opts.clone()
        };
        let mut sink = TokenSink::open(&opts, &self.setup, inputs)?;
        let mut skip = sink.resumed_docs;
        let mut acc = Counters::default();
        for file in 0..job.kept_shards.len() {
            let unit = self.unit(job, file)?;
            let ids = unit.docs();
            #[allow(clippy::cast_possible_truncation)] // at most ids.len()
            let k = skip.min(ids.len() as u64) as usize;
            skip -= k as u64;
            sink.push(&ids[k..])?;
            acc.merge(unit.counters, opts.stats_sample_bytes);
        }
        let t = sink::finish(
            &opts,
            &self.setup,
            sink.close(true)?,
            &acc,
            job.threads,
            started,
        )?;
        let summary = format!(
            "tokenized {} docs into {} tokens in {} shard(s){}: {}",
            t.docs,
            t.tokens,
            t.shards,
            if t.resumed_shards > 0 {
                format!(" ({} resumed)", t.resumed_shards)
            } else {
                String::new()
            },
            t.manifest
        );
        Ok(Some(StageEnd {
            report: (
                "tokenize",
                serde_json::to_value(TokenizeSummary::new(&t)).expect("summary serializes"),
            ),
            timing: StageTiming::new(t.seconds, t.docs, t.text_bytes),
            summary,
        }))
    }
}

/// One input file's tokenize part: the kept documents' ids, in input order.
struct TokenizeFile {
    path: PathBuf,
    unit: Unit,
    sample_bytes: u64,
}

impl FileStage for TokenizeFile {
    fn add(&mut self, text: &str, part: Option<DocPart>) -> Result<()> {
        let ids = part
            .and_then(|p| p.downcast::<Vec<u32>>().ok())
            .expect("the tokenize stage leaves token ids for every document");
        self.unit.add(text, *ids, self.sample_bytes);
        Ok(())
    }

    fn finish(self: Box<Self>, _stats: &mut WriteStats) -> Result<()> {
        write_atomic(&self.path, &self.unit.encode())
    }
}

/// The resume unit of one input file: identity, text counters, and token ids per kept
/// document. Layout: magic, identity (u64), counters as JSON (u64 length first), document
/// count (u64), each document's token count (u32), the ids (u32), xxh3-64 of all before.
struct Unit {
    identity: u64,
    counters: Counters,
    lens: Vec<u32>,
    ids: Vec<u32>,
}

const UNIT_MAGIC: &[u8; 8] = b"CPTTOKU\x01";

impl Unit {
    fn new(identity: u64) -> Self {
        Unit {
            identity,
            counters: Counters::default(),
            lens: Vec::new(),
            ids: Vec::new(),
        }
    }

    fn add(&mut self, text: &str, ids: Vec<u32>, sample_bytes: u64) {
        self.counters.count(text, sample_bytes);
        #[allow(clippy::cast_possible_truncation)] // a document of 4 G tokens is not text
        self.lens.push(ids.len() as u32);
        self.ids.extend(ids);
    }

    /// The ids, one vector per document.
    fn docs(&self) -> Vec<&[u32]> {
        let mut at = 0;
        self.lens
            .iter()
            .map(|&n| {
                let d = &self.ids[at..at + n as usize];
                at += n as usize;
                d
            })
            .collect()
    }

    fn encode(&self) -> Vec<u8> {
        let counters = serde_json::to_vec(&self.counters).expect("counters serialize");
        let mut b =
            Vec::with_capacity(40 + counters.len() + 4 * (self.lens.len() + self.ids.len()));
        b.extend_from_slice(UNIT_MAGIC);
        b.extend_from_slice(&self.identity.to_le_bytes());
        b.extend_from_slice(&(counters.len() as u64).to_le_bytes());
        b.extend_from_slice(&counters);
        b.extend_from_slice(&(self.lens.len() as u64).to_le_bytes());
        for v in self.lens.iter().chain(&self.ids) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let sum = xxh3_64(&b);
        b.extend_from_slice(&sum.to_le_bytes());
        b
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Unit, String> {
        if bytes.len() < 40 || &bytes[..8] != UNIT_MAGIC {
            return Err("not a token unit of this version".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if xxh3_64(body).to_le_bytes() != sum {
            return Err("checksum mismatch".into());
        }
        let u64_at = |at: usize| -> std::result::Result<u64, String> {
            body.get(at..at + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .ok_or_else(|| "truncated".to_string())
        };
        let identity = u64_at(8)?;
        let json_len = usize::try_from(u64_at(16)?).map_err(|_| "bad length")?;
        let json = body.get(24..24 + json_len).ok_or("truncated")?;
        let counters: Counters = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        let n = usize::try_from(u64_at(24 + json_len)?).map_err(|_| "bad length")?;
        let words: Vec<u32> = body[32 + json_len..]
            .chunks(4)
            .map(|c| c.try_into().map(u32::from_le_bytes))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| "truncated")?;
        if words.len() < n {
            return Err("truncated".into());
        }
        let (lens, ids) = words.split_at(n);
        if lens.iter().map(|&l| l as usize).sum::<usize>() != ids.len() {
            return Err("token counts do not add up".into());
        }
        Ok(Unit {
            identity,
            counters,
            lens: lens.to_vec(),
            ids: ids.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_trip_and_detect_damage() {
        let mut u = Unit::new(7);
        u.add("hello world", vec![1, 2, 0], 1 << 20);
        u.add("x", vec![5, 0], 1 << 20);
        let bytes = u.encode();
        let back = Unit::decode(&bytes).unwrap();
        assert_eq!(back.identity, 7);
        assert_eq!(back.docs(), [&[1, 2, 0][..], &[5, 0][..]]);
        assert_eq!((back.counters.docs, back.counters.text_bytes), (2, 12));
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(Unit::decode(&bad).is_err());
        assert!(Unit::decode(&bytes[..bytes.len() - 5]).is_err());
    }
}
