//! Label attributes (a language code) in the numeric attribute records of the scan.
//! `crate::stage::Attributes` holds numbers; a short ASCII label (at most 6 bytes) is packed
//! into the integer part of an `f64` (exact below 2^53) and unpacked when attribute files
//! are written. Which attributes are labels is listed here.

/// Names of the attributes whose values are labels.
pub const LABELS: &[&str] = &["lang"];

pub fn is_label(name: &str) -> bool {
    LABELS.contains(&name)
}

/// Pack an ASCII label of 1..=6 bytes; `None` for anything else.
pub fn pack(label: &str) -> Option<f64> {
    let b = label.as_bytes();
    if b.is_empty() || b.len() > 6 || !b.iter().all(|c| c.is_ascii_graphic()) {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        v = (v << 8) | u64::from(c);
    }
    Some(v as f64)
}

/// The label packed by [`pack`]; `None` when `v` is not such a value.
pub fn unpack(v: f64) -> Option<String> {
    if v.is_nan() || v < 1.0 || v >= (1u64 << 48) as f64 || v.fract() != 0.0 {
        return None;
    }
    let mut n = v as u64;
    let mut out = Vec::new();
    while n > 0 {
        out.push((n & 0xFF) as u8);
        n >>= 8;
    }
    out.reverse();
    let s = String::from_utf8(out).ok()?;
    s.bytes().all(|c| c.is_ascii_graphic()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for l in ["eng", "und", "x", "abcdef"] {
            assert_eq!(unpack(pack(l).unwrap()).as_deref(), Some(l));
        }
        assert!(pack("").is_none() && pack("abcdefg").is_none() && pack("a b").is_none());
        assert!(unpack(0.5).is_none() && unpack(-3.0).is_none() && unpack(0.0).is_none());
    }
}
