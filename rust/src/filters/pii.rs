//! PII redaction of kept documents: e-mail addresses, IPv4 and IPv6 addresses and
//! phone numbers, replaced by `<EMAIL>`, `<IP_ADDRESS>` and `<PHONE>`. Patterns are
//! conservative (a phone needs separators or a leading `+`, IPv6 candidates must parse as
//! addresses) so ordinary numbers, dates, versions, prices and hashes survive. E-mail local
//! parts may be non-ASCII or quoted; phones may be E.164 without separators or grouped in
//! any national style after a `+`; IPv6 may carry a zone (`fe80::1%eth0`). Recall and
//! precision are measured on `rust/tests/data/pii_labelled.jsonl` (`rust/tests/pii_labelled.rs`).

use crate::config::PiiConfig;
use crate::stage::{Build, Phase, StageSpec};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::net::Ipv6Addr;

pub const STAGE: StageSpec = StageSpec {
    name: "pii",
    phase: Phase::Write,
    section: "pii",
    keys: &[
        ("enabled", "redact PII in kept documents"),
        ("email", "e-mail addresses -> <EMAIL>"),
        ("ip_address", "IPv4 and IPv6 addresses -> <IP_ADDRESS>"),
        ("phone", "phone numbers (with separators) -> <PHONE>"),
    ],
    enabled: |c| active(&c.pii),
    plan: |c| {
        let p = &c.pii;
        let kinds: Vec<&str> = [
            ("email", p.email),
            ("ip_address", p.ip_address),
            ("phone", p.phone),
        ]
        .iter()
        .filter_map(|&(k, on)| on.then_some(k))
        .collect();
        Ok(format!("redact {} in kept documents", kinds.join(", ")))
    },
    build: Build::Write(|c, _| Ok(super::redact::build(c))),
    resume: "kept/rejected shards and a done marker (.state/done-NNNNN.json) per input file",
};

/// Whether the config redacts anything.
fn active(c: &PiiConfig) -> bool {
    c.enabled && (c.email || c.ip_address || c.phone)
}

/// How many of each kind a document (or a job) had redacted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiiCounts {
    pub email: u64,
    pub ip_address: u64,
    pub phone: u64,
}

impl PiiCounts {
    pub fn add(&mut self, o: &PiiCounts) {
        self.email += o.email;
        self.ip_address += o.ip_address;
        self.phone += o.phone;
    }

    pub fn total(&self) -> u64 {
        self.email + self.ip_address + self.phone
    }
}

pub struct Redactor {
    c: PiiConfig,
    email: Regex,
    ipv4: Regex,
    ipv6: Regex,
    phone_nanp: Regex,
    phone_intl: Regex,
    phone_e164: Regex,
}

const OCTET: &str = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";

impl Redactor {
    pub fn new(c: PiiConfig) -> Redactor {
        Redactor {
            c,
            email: Regex::new(r#"(?:"[^"\r\n\\]{1,64}"|[\p{L}\p{N}][\p{L}\p{N}._%+-]*)@[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)*\.\p{L}{2,}"#)
                .unwrap(),
            ipv4: Regex::new(&format!(r"{OCTET}(?:\.{OCTET}){{3}}")).unwrap(),
            ipv6: Regex::new(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z_]{1,32})?").unwrap(),
            phone_nanp: Regex::new(r"(?:\+?1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}").unwrap(),
            phone_intl: Regex::new(r"\+[1-9][0-9]{0,3}(?:[ .-]\(?[0-9]{1,8}\)?){1,6}").unwrap(),
            phone_e164: Regex::new(r"\+[1-9][0-9]{7,14}").unwrap(),
        }
    }

    pub fn enabled(&self) -> bool {
        active(&self.c)
    }

    /// The redacted text (borrowed when nothing matched) and the counts per kind.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, PiiCounts) {
        let mut counts = PiiCounts::default();
        if !self.enabled() {
            return (Cow::Borrowed(text), counts);
        }
        let mut out = Cow::Borrowed(text);
        if self.c.email {
            out = replace(out, &self.email, "<EMAIL>", &mut counts.email, |s, a, b| {
                !prev_char(s, a).is_some_and(|c| c.is_alphanumeric() || c == '@')
                    && next_char(s, b) != Some('@')
            });
        }
        if self.c.ip_address {
            out = replace(
                out,
                &self.ipv6,
                "<IP_ADDRESS>",
                &mut counts.ip_address,
                |s, a, b| {
                    let m = &s[a..b];
                    let addr = m.split('%').next().unwrap_or(m);
                    let groups: Vec<&str> = addr.split(':').filter(|g| !g.is_empty()).collect();
                    let edge_ok = |c: Option<char>| {
                        !c.is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '.')
                    };
                    // Fewer than 3 groups only as a compressed form led by a full group with
                    // a digit (`2001:db8::`, `fe80::1`) or the loopback `::1`; never a
                    // `cafe::babe` or `a::b` (code) or `10:20` (a time).
                    let shaped = groups.len() >= 3
                        || (addr.contains("::")
                            && (groups.first().is_some_and(|g| {
                                g.len() == 4
                                    && g.bytes().any(|c| c.is_ascii_digit())
                                    && !addr.starts_with(':')
                            }) || addr == "::1"));
                    shaped
                        && edge_ok(prev_char(s, a))
                        && ends_cleanly(s, b, ':')
                        && addr.parse::<Ipv6Addr>().is_ok()
                },
            );
            out = replace(
                out,
                &self.ipv4,
                "<IP_ADDRESS>",
                &mut counts.ip_address,
                |s, a, b| {
                    // Not part of a longer dotted number (versions, OIDs) or a word.
                    let edge_ok =
                        |c: Option<char>| !c.is_some_and(|c| c.is_alphanumeric() || c == '.');
                    edge_ok(prev_char(s, a)) && ends_cleanly(s, b, '.')
                },
            );
        }
        if self.c.phone {
            for re in [&self.phone_nanp, &self.phone_intl, &self.phone_e164] {
                out = replace(out, re, "<PHONE>", &mut counts.phone, |s, a, b| {
                    let m = &s[a..b];
                    let digits = m.chars().filter(char::is_ascii_digit).count();
                    let edge_ok = |c: Option<char>| {
                        !c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '+')
                    };
                    let prev_ok = s[..a].ends_with('(') || edge_ok(prev_char(s, a));
                    let next_ok = match next_char(s, b) {
                        // A sentence's '.' or ',' may follow, a decimal part may not.
                        Some('.' | ',') => !next_char(s, b + 1).is_some_and(|c| c.is_ascii_digit()),
                        c => edge_ok(c),
                    };
                    // After a `+`, the whole number must hold 8..=15 digits (E.164).
                    let span_ok = if m.starts_with('+') {
                        (8..=15).contains(&digits)
                    } else {
                        (7..=15).contains(&digits)
                    };
                    span_ok && prev_ok && next_ok && !m.ends_with(['(', ' ', '.', '-'])
                });
            }
        }
        (out, counts)
    }
}

/// The match ending at `b` is not glued to a word, to `extra`, or to a dotted
/// continuation (a sentence's final '.' is fine).
fn ends_cleanly(s: &str, b: usize, extra: char) -> bool {
    match next_char(s, b) {
        None => true,
        Some('.') => !next_char(s, b + 1).is_some_and(char::is_alphanumeric),
        Some(c) => !(c.is_alphanumeric() || c == extra),
    }
}

fn prev_char(s: &str, at: usize) -> Option<char> {
    s[..at].chars().next_back()
}

fn next_char(s: &str, at: usize) -> Option<char> {
    s.get(at..).and_then(|t| t.chars().next())
}

/// Replace the matches of `re` that `accept` approves; counts replacements.
fn replace<'a>(
    text: Cow<'a, str>,
    re: &Regex,
    placeholder: &str,
    count: &mut u64,
    accept: impl Fn(&str, usize, usize) -> bool,
) -> Cow<'a, str> {
    let s: &str = &text;
    let mut out = String::new();
    let mut last = 0;
    for m in re.find_iter(s) {
        if m.as_str().is_empty() || !accept(s, m.start(), m.end()) {
            continue;
        }
        out.push_str(&s[last..m.start()]);
        out.push_str(placeholder);
        last = m.end();
        *count += 1;
    }
    if last == 0 {
        return text;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> (String, PiiCounts) {
        let (t, c) = Redactor::new(PiiConfig::default()).redact(text);
        (t.into_owned(), c)
    }

    #[test]
    fn redacts_each_kind_and_counts() {
        let (t, c) = r("Mail jane.doe+x@example.co.uk or bob@mail.org. Host 192.168.0.1, v6 2001:db8::8a2e:370:7334. \
                        Call (555) 123-4567 or +44 20 7946 0958.");
        assert_eq!(
            t,
            "Mail <EMAIL> or <EMAIL>. Host <IP_ADDRESS>, v6 <IP_ADDRESS>. Call <PHONE> or <PHONE>."
        );
        assert_eq!(
            c,
            PiiCounts {
                email: 2,
                ip_address: 2,
                phone: 2
            }
        );
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        let text = "Version 1.2.3.4.5, year 1999, ratio 3:2, time 10:30:00, section 12.3, \
                    total 5551234567 and 300.1.2.3 items; std::io::Read; see § 4-5-6.";
        let (t, c) = r(text);
        assert_eq!(t, text);
        assert_eq!(c.total(), 0);
    }

    #[test]
    fn kinds_can_be_switched_off() {
        let c = PiiConfig {
            phone: false,
            ..PiiConfig::default()
        };
        let (t, n) = Redactor::new(c).redact("a@b.io 555-123-4567");
        assert_eq!(t, "<EMAIL> 555-123-4567");
        assert_eq!(
            n,
            PiiCounts {
                email: 1,
                ip_address: 0,
                phone: 0
            }
        );
        let off = PiiConfig {
            enabled: false,
            ..PiiConfig::default()
        };
        assert!(matches!(
            Redactor::new(off).redact("a@b.io").0,
            Cow::Borrowed(_)
        ));
    }
}
