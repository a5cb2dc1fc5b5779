//! Byte layout of a shard file (FORMAT.md section 2): header, frame index entries, checksums.

use xxhash_rust::xxh3::xxh3_64;

pub const MAGIC: &[u8; 8] = b"CPTSHARD";
pub const FORMAT_VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
pub const FRAME_ENTRY_LEN: usize = 32;
pub const DOC_ENTRY_LEN: usize = 8;

/// Token width of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    U16,
    U32,
}

impl Dtype {
    /// The narrowest width that holds every id below `vocab_size`.
    pub fn for_vocab(vocab_size: u64) -> Self {
        if vocab_size <= 1 << 16 {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }
    pub fn width(self) -> usize {
        match self {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        }
    }
    pub fn from_width(width: u8) -> Option<Self> {
        match width {
            2 => Some(Dtype::U16),
            4 => Some(Dtype::U32),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
        }
    }
    /// Append `tokens` as packed little-endian values of this width.
    pub fn encode_into(self, tokens: &[u32], out: &mut Vec<u8>) {
        match self {
            Dtype::U16 => {
                out.reserve(tokens.len() * 2);
                for &t in tokens {
                    // Ids were checked against the vocabulary size, so they fit.
                    out.extend_from_slice(&(t as u16).to_le_bytes());
                }
            }
            Dtype::U32 => {
                out.reserve(tokens.len() * 4);
                for &t in tokens {
                    out.extend_from_slice(&t.to_le_bytes());
                }
            }
        }
    }
    /// Decode packed little-endian values of this width.
    pub fn decode_into(self, bytes: &[u8], out: &mut Vec<u32>) {
        match self {
            Dtype::U16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]]))),
            ),
            Dtype::U32 => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
        }
    }
}

/// The fixed-size header at the start of every shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub dtype: Dtype,
    pub frame_tokens: u32,
    pub num_tokens: u64,
    pub num_docs: u64,
    pub num_frames: u64,
    pub index_offset: u64,
    pub index_checksum: u64,
}

impl Header {
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(MAGIC);
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[10] = self.dtype.width() as u8;
        b[12..16].copy_from_slice(&self.frame_tokens.to_le_bytes());
        b[16..24].copy_from_slice(&self.num_tokens.to_le_bytes());
        b[24..32].copy_from_slice(&self.num_docs.to_le_bytes());
        b[32..40].copy_from_slice(&self.num_frames.to_le_bytes());
        b[40..48].copy_from_slice(&self.index_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.index_checksum.to_le_bytes());
        let sum = xxh3_64(&b[0..56]);
        b[56..64].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parse and check a header; the error text says what is wrong (the caller adds the path).
    pub fn parse(b: &[u8]) -> std::result::Result<Self, String> {
        if b.len() < HEADER_LEN {
            return Err(format!(
                "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
                b.len()
            ));
        }
        if &b[0..8] != MAGIC {
            return Err("not a cpt token shard (bad magic)".into());
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != FORMAT_VERSION {
            return Err(format!(
                "shard format version {version}, this reader knows version {FORMAT_VERSION}"
            ));
        }
        if u64_at(b, 56) != xxh3_64(&b[0..56]) {
            return Err("header checksum mismatch (corrupt header)".into());
        }
        let dtype = Dtype::from_width(b[10]).ok_or_else(|| format!("bad token width {}", b[10]))?;
        let frame_tokens = u32::from_le_bytes([b[12], b[13], b[14], b[15]]);
        if frame_tokens == 0 {
            return Err("frame_tokens is 0".into());
        }
        let h = Header {
            dtype,
            frame_tokens,
            num_tokens: u64_at(b, 16),
            num_docs: u64_at(b, 24),
            num_frames: u64_at(b, 32),
            index_offset: u64_at(b, 40),
            index_checksum: u64_at(b, 48),
        };
        if h.num_frames != h.num_tokens.div_ceil(u64::from(frame_tokens)) {
            return Err(format!(
                "header says {} frames for {} tokens",
                h.num_frames, h.num_tokens
            ));
        }
        Ok(h)
    }

    /// Length of the frame index plus document index, in bytes.
    pub fn index_len(&self) -> u64 {
        self.num_frames * FRAME_ENTRY_LEN as u64 + self.num_docs * DOC_ENTRY_LEN as u64
    }

    /// The exact file length this header implies.
    pub fn file_len(&self) -> u64 {
        self.index_offset + self.index_len()
    }
}

/// One frame index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    pub offset: u64,
    pub len: u64,
    pub first_token: u64,
    pub checksum: u64,
}

impl FrameEntry {
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for v in [self.offset, self.len, self.first_token, self.checksum] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    pub fn parse(b: &[u8]) -> Self {
        FrameEntry {
            offset: u64_at(b, 0),
            len: u64_at(b, 8),
            first_token: u64_at(b, 16),
            checksum: u64_at(b, 24),
        }
    }
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The JSON form of a checksum: `xxh3_64:` and 16 hex digits.
pub fn checksum_string(sum: u64) -> String {
    format!("xxh3_64:{sum:016x}")
}
