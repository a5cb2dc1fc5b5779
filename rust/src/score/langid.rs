//! Language identification with `whatlang` (pure Rust, 69 languages, no model download):
//! per document the attributes `lang` (whatlang's ISO 639-3 code, `und` when no language
//! is found) and `lang_conf` (whatlang's confidence, 0..=1). The stage rejects (reason
//! `language`) documents outside `keep`, inside `drop`, or under `min_confidence`;
//! per-language quotas are a selection policy (`crate::select`), applied in the decide step.
//! whatlang is fed the prose only and decides within a script chosen first (see [`detect`]):
//! technical pages mix English command names and options into every language.

use super::label;
use crate::analysis::Analysis;
use crate::config::{Config, LanguageConfig};
use crate::stage::{Attributes, Build, Phase, ScanStage, StageSpec, Verdict};
use crate::{Error, Result};

pub const STAGE: StageSpec = StageSpec {
    name: "language",
    phase: Phase::Scan,
    section: "language",
    keys: &[
        ("enabled", "identify each document's language (whatlang)"),
        ("keep", "keep only these languages (ISO 639-3); [] = any"),
        ("drop", "reject these languages (ISO 639-3)"),
        (
            "min_confidence",
            "reject documents whose lang_conf is lower",
        ),
        (
            "quotas",
            "{lang: max fraction of the selected docs or bytes}",
        ),
        ("quota_unit", "what quotas count: docs or bytes"),
        ("sample_chars", "characters examined (the document's first)"),
    ],
    enabled: |c| c.language.enabled,
    plan: |c| {
        let l = &c.language;
        l.validate()?;
        let list = |v: &[String]| {
            if v.is_empty() {
                "any".to_string()
            } else {
                v.join(",")
            }
        };
        let quotas: Vec<String> = l.quotas.iter().map(|(k, v)| format!("{k}<={v}")).collect();
        Ok(format!(
            "whatlang on the prose of the first {} chars, script chosen first: attributes lang, lang_conf; keep {}, drop [{}], \
             min_confidence {}, quotas [{}] of kept {}",
            l.sample_chars,
            list(&l.keep),
            l.drop.join(","),
            l.min_confidence,
            quotas.join(", "),
            l.quota_unit
        ))
    },
    build: Build::Scan(|c: &Config| Ok(Box::new(LanguageId::new(&c.language)))),
    resume: "scan records (.state/scan-NNNNN.bin, one per input file)",
};

/// The code of a document whose language whatlang cannot tell.
pub const UNKNOWN: &str = "und";

/// Check that every entry of `codes` is a whatlang code, naming `key` when not.
pub fn check_codes(key: &str, codes: &[&str]) -> Result<()> {
    for c in codes {
        if *c != UNKNOWN && whatlang::Lang::from_code(*c).is_none() {
            let all: Vec<&str> = whatlang::Lang::all().iter().map(|l| l.code()).collect();
            return Err(Error::Config(format!(
                "{key}: `{c}` is not a language code (ISO 639-3 as whatlang spells them: {}, or {UNKNOWN})",
                all.join(", ")
            )));
        }
    }
    Ok(())
}

/// The first `n` characters of `text`.
fn sample(text: &str, n: usize) -> &str {
    if text.len() <= n {
        return text;
    }
    text.char_indices().nth(n).map_or(text, |(i, _)| &text[..i])
}

fn trim_punctuation(token: &str) -> &str {
    token.trim_matches(|c: char| ",.;:!?\"'`()".contains(c))
}

/// An all-ASCII token that is code rather than prose: an option (`-v`), a path or URL, a
/// file name or call (`passwd(5)`, `a.conf`), an identifier (`size_t`, `getPid`), a number,
/// or an upper-case name (`FILE`, `POSIX`) unless `capitals_are_prose`. Technical text mixes
/// such tokens into every language's prose, and they read as English to a trigram model.
fn is_code(token: &str, capitals_are_prose: bool) -> bool {
    let t = trim_punctuation(token);
    if t.is_empty() {
        return true;
    }
    let upper = t.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = t.bytes().filter(u8::is_ascii_lowercase).count();
    t.starts_with('-')
        || t.bytes()
            .any(|b| b.is_ascii_digit() || b"/\\_=<>[]{}|@#$%&*~^+().".contains(&b))
        || (!capitals_are_prose && upper >= 2 && lower == 0)
        || (lower > 0 && t.bytes().skip(1).any(|b| b.is_ascii_uppercase()))
}

/// Whether most words of `text` (tokens of ASCII letters, 2 or more) are in capitals: then
/// the text is shouted prose (a warranty disclaimer), not prose naming a few constants, and
/// dropping its capitals would leave nothing to judge.
fn mostly_capitals(text: &str) -> bool {
    let (mut words, mut capitals) = (0usize, 0usize);
    for t in text.split_whitespace().map(trim_punctuation) {
        if t.len() >= 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
            words += 1;
            capitals += usize::from(t.bytes().all(|b| b.is_ascii_uppercase()));
        }
    }
    capitals * 2 > words
}

/// How much a letter of `script` weighs when choosing the document's script. A Han, kana or
/// Hangul character carries about a word's worth of text (Japanese and Chinese words are
/// 1-3 characters, Latin ones ~5 letters), so counting characters alone lets a few English
/// command names outvote a page of Japanese.
fn weight(script: whatlang::Script) -> usize {
    use whatlang::Script::{Hangul, Hiragana, Katakana, Mandarin};
    if matches!(script, Hangul | Hiragana | Katakana | Mandarin) {
        3
    } else {
        1
    }
}

fn script_of(c: char) -> Option<whatlang::Script> {
    if c.is_ascii_alphabetic() {
        return Some(whatlang::Script::Latin);
    }
    // The common blocks directly: asking whatlang per character is most of the cost.
    use whatlang::Script::{Cyrillic, Hangul, Hiragana, Katakana, Latin, Mandarin};
    match c {
        '\u{c0}'..='\u{24f}' | '\u{1e00}'..='\u{1eff}' if c.is_alphabetic() => Some(Latin),
        '\u{400}'..='\u{4ff}' if c.is_alphabetic() => Some(Cyrillic),
        '\u{3041}'..='\u{309f}' => Some(Hiragana),
        '\u{30a1}'..='\u{30fa}' | '\u{30fc}'..='\u{30ff}' => Some(Katakana),
        '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' => Some(Mandarin),
        '\u{ac00}'..='\u{d7af}' => Some(Hangul),
        _ if c.is_alphabetic() => whatlang::detect_script(c.encode_utf8(&mut [0; 4])),
        _ => None,
    }
}

/// Han and kana are one writing system when the text has kana: kana never appears in Chinese,
/// while Japanese prose is mostly Han, so a Han majority alone must not make it Chinese.
fn family(s: whatlang::Script) -> whatlang::Script {
    use whatlang::Script::{Hiragana, Katakana};
    if matches!(s, Hiragana | Katakana) {
        Katakana
    } else {
        s
    }
}

/// The language (whatlang's code, or `und`) and confidence of a text's first `sample_chars`.
///
/// The rule: on the prose only (code-like ASCII tokens, and `[...]` synopsis spans, dropped),
/// the script with the most letters wins, a CJK letter counting 3 (see [`weight`]) and kana
/// making Han text Japanese; then whatlang decides among that script's languages on the
/// tokens written in it, in one call unless it is unsure ([`SURE`]). A lone CJK script is its
/// language, with the script's share of the weighted letters as the confidence.
pub fn detect(text: &str, sample_chars: usize) -> (&'static str, f64) {
    let mut weights: Vec<(whatlang::Script, usize)> = Vec::new();
    let mut tokens: Vec<(&str, whatlang::Script)> = Vec::new();
    let mut depth = 0usize;
    let text = sample(text, sample_chars);
    let capitals_are_prose = mostly_capitals(text);
    for token in text.split_whitespace() {
        let ascii = token.is_ascii();
        let inside = depth > 0;
        if ascii {
            let opens = token.bytes().filter(|&b| b == b'[').count();
            let closes = token.bytes().filter(|&b| b == b']').count();
            depth = (depth + opens).saturating_sub(closes);
            if inside || is_code(token, capitals_are_prose) {
                continue;
            }
        }
        let mut first = None;
        for s in token.chars().filter_map(script_of) {
            let s = family(s);
            first.get_or_insert(s);
            match weights.iter_mut().find(|(k, _)| *k == s) {
                Some(e) => e.1 += weight(s),
                None => weights.push((s, weight(s))),
            }
        }
        if let Some(s) = first {
            tokens.push((token, s));
        }
    }
    let kana = weights
        .iter()
        .position(|(s, _)| *s == whatlang::Script::Katakana);
    let han = weights
        .iter()
        .position(|(s, _)| *s == whatlang::Script::Mandarin);
    if let (Some(k), Some(h)) = (kana, han) {
        let w = weights[h].1;
        weights[k].1 += w;
        weights[h].1 = 0;
    }
    let total: usize = weights.iter().map(|(_, w)| w).sum();
    let Some(&(script, w)) = weights.iter().max_by_key(|(_, w)| *w) else {
        return (UNKNOWN, 0.0);
    };
    #[allow(clippy::cast_precision_loss)] // letter counts of one sample
    let share = w as f64 / total as f64;
    match script {
        whatlang::Script::Katakana => return ("jpn", share),
        whatlang::Script::Mandarin => return ("cmn", share),
        whatlang::Script::Hangul => return ("kor", share),
        _ => {}
    }
    let words: Vec<&str> = tokens
        .iter()
        .filter(|(_, s)| *s == script)
        .map(|(t, _)| *t)
        .collect();
    match whatlang::detect(&words.join(" ")) {
        Some(info) if info.confidence() >= SURE => (info.lang().code(), info.confidence()),
        _ => vote(words.into_iter()),
    }
}

/// whatlang's confidence on the whole prose at or above which its answer stands. Below it
/// the top two languages nearly tie, as on a page that mixes two languages, and groups of
/// sentences vote instead ([`vote`]). Each whatlang call costs about as much as reading a
/// page (it compares ~300 trigrams per candidate language), so one call is the rule and the
/// vote the exception: it made detection 2.9x slower when it ran on every document.
const SURE: f64 = 0.5;

/// Words per sentence group that whatlang judges on its own: enough for its trigrams.
const GROUP_WORDS: usize = 12;

/// whatlang on groups of whole sentences (at least [`GROUP_WORDS`] words), each group's
/// letters voting for its language weighted by whatlang's confidence: a page that mixes
/// translated and untranslated passages gets the language that writes most of it, where
/// one trigram profile of the whole text leans to the language whose trigrams are commonest.
/// The confidence is the winner's share of the votes.
fn vote<'a>(words: impl Iterator<Item = &'a str>) -> (&'static str, f64) {
    let mut votes: Vec<(whatlang::Lang, f64)> = Vec::new();
    let mut group = String::new();
    let mut n = 0;
    let mut judge = |group: &str| {
        if let Some(info) = whatlang::detect(group) {
            #[allow(clippy::cast_precision_loss)] // bytes of one sample
            let w = group.len() as f64 * info.confidence();
            match votes.iter_mut().find(|(l, _)| *l == info.lang()) {
                Some(e) => e.1 += w,
                None => votes.push((info.lang(), w)),
            }
        }
    };
    for word in words {
        if !group.is_empty() {
            group.push(' ');
        }
        group.push_str(word);
        n += 1;
        if n >= GROUP_WORDS && word.ends_with(['.', '!', '?', ';', ':', '\u{3002}']) {
            judge(&group);
            group.clear();
            n = 0;
        }
    }
    if !group.is_empty() {
        judge(&group);
    }
    let total: f64 = votes.iter().map(|(_, w)| w).sum();
    match votes.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        Some(&(lang, w)) if total > 0.0 => (lang.code(), w / total),
        _ => (UNKNOWN, 0.0),
    }
}

pub struct LanguageId {
    keep: Vec<String>,
    drop: Vec<String>,
    min_confidence: f64,
    sample_chars: usize,
}

impl LanguageId {
    pub fn new(c: &LanguageConfig) -> Self {
        LanguageId {
            keep: c.keep.clone(),
            drop: c.drop.clone(),
            min_confidence: c.min_confidence,
            sample_chars: c.sample_chars,
        }
    }
}

impl ScanStage for LanguageId {
    fn name(&self) -> &'static str {
        "language"
    }

    fn scan(&self, doc: &Analysis<'_>, attrs: &mut Attributes) -> Verdict {
        let (lang, conf) = detect(doc.text(), self.sample_chars);
        attrs.push((
            "lang".into(),
            label::pack(lang).expect("codes are 3 ASCII letters"),
        ));
        attrs.push(("lang_conf".into(), conf));
        let reject = |detail: String| Verdict::Reject {
            reason: "language",
            detail,
        };
        if !self.keep.is_empty() && !self.keep.iter().any(|k| k == lang) {
            return reject(format!("lang {lang} not in keep [{}]", self.keep.join(",")));
        }
        if self.drop.iter().any(|k| k == lang) {
            return reject(format!("lang {lang} in drop"));
        }
        if conf < self.min_confidence {
            return reject(format!(
                "lang_conf {conf:.2} < {:.2} ({lang})",
                self.min_confidence
            ));
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DE: &str = "Der schnelle braune Fuchs springt über den faulen Hund, und die Katze \
        schläft den ganzen Tag auf dem warmen Sofa im Wohnzimmer des alten Hauses.";
    const EN: &str = "The quick brown fox jumps over the lazy dog, and the cat sleeps all day \
        long on the warm sofa in the living room of the old house by the river.";

    fn run(c: &LanguageConfig, text: &str) -> (Verdict, Attributes) {
        let mut attrs = Vec::new();
        let v = LanguageId::new(c).scan(&Analysis::new(text, 0), &mut attrs);
        (v, attrs)
    }

    #[test]
    fn keep_drop_and_confidence() {
        let c = LanguageConfig {
            enabled: true,
            keep: vec!["eng".into()],
            ..LanguageConfig::default()
        };
        let (v, attrs) = run(&c, EN);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some("eng"));
        assert!(attrs[1].1 > 0.5, "{attrs:?}");
        let (v, attrs) = run(&c, DE);
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some("deu"));
        assert!(
            matches!(v, Verdict::Reject { reason: "language", ref detail } if detail.contains("deu")),
            "{v:?}"
        );
        let c = LanguageConfig {
            drop: vec!["deu".into()],
            ..LanguageConfig::default()
        };
        assert!(matches!(run(&c, DE).0, Verdict::Reject { .. }));
        assert_eq!(run(&c, EN).0, Verdict::Keep);
        let c = LanguageConfig {
            min_confidence: 1.01,
            ..LanguageConfig::default()
        };
        assert!(
            matches!(run(&c, EN).0, Verdict::Reject { ref detail, .. } if detail.starts_with("lang_conf"))
        );
        let (_, attrs) = run(&LanguageConfig::default(), "1234 5678 !!!");
        assert_eq!(label::unpack(attrs[0].1).as_deref(), Some(UNKNOWN));
        assert!(attrs[1].1.abs() < f64::EPSILON);
        assert_eq!(sample("héllo", 2), "hé");
        assert_eq!(detect("-v --verbose /etc/a.conf size_t", 4096).0, UNKNOWN);
        assert!(check_codes("language.keep", &["eng", "xxx"])
            .unwrap_err()
            .to_string()
            .contains("language.keep: `xxx`"));
    }

    #[test]
    fn script_by_weighted_prose_letters() {
        // Japanese with more Latin characters (options, paths, names) than Japanese ones:
        // whatlang alone counts characters and answers with a Latin-script language.
        let ja = "chgrp - グループの所有権を変更する [OPTION]... GROUP FILE... \
            --reference=RFILE FILE... 各ファイルのグループを GROUP に変更します。 \
            --verbose --changes --silent /etc/group chgrp(1) chown(1) verbose モードと同様だ";
        assert_ne!(whatlang::detect(ja).map(|i| i.lang().code()), Some("jpn"));
        assert_eq!(detect(ja, 4096).0, "jpn");
        // Mostly Han with a little kana is Japanese; Han alone is Chinese.
        assert_eq!(detect("日本語の文章を書く。東京都千代田区", 4096).0, "jpn");
        assert_eq!(detect("我们今天在北京学习中文和历史", 4096).0, "cmn");
        // English naming a few CJK words stays English.
        let en = "The package ships fonts for Japanese (日本語) and Chinese (中文) text, \
            and this manual explains how the renderer picks a fallback font for each \
            character when the requested one lacks a glyph for it.";
        assert_eq!(detect(en, 4096).0, "eng");
        // Options and a synopsis span do not outvote a short Polish sentence.
        let pl = "makemap [-C file] [-N] [-c cachesize] [-d] [-D commentchar] [-e] [-f] \
            [-i type] [-l] [-o] [-r] maptype mapnam Makemap tworzy bazę map, używaną \
            podczas kluczowych przeszukiwań map w programie pocztowym.";
        assert_eq!(detect(pl, 4096).0, "pol");
    }

    #[test]
    fn text_in_capitals_is_prose() {
        // Capitals are code names (FILE, POSIX) in prose, but prose when most words are in
        // them: dropping them left nothing here (`und`), and a shouted license read as Akan.
        let shouted = "THE PROGRAM IS PROVIDED WITHOUT ANY WARRANTY OF ANY KIND, AND IN NO \
            EVENT SHALL THE AUTHORS BE LIABLE FOR ANY DAMAGES THAT ARISE FROM ITS USE, \
            WHETHER IN AN ACTION OF CONTRACT OR OTHERWISE, EVEN IF ADVISED OF THE RISK.";
        assert_eq!(detect(shouted, 4096).0, "eng");
        assert!(mostly_capitals(shouted));
        let de = "Die Variable PATH enthält die Verzeichnisse, in denen die Shell nach \
            Befehlen sucht; HOME und USER werden beim Anmelden gesetzt.";
        assert!(!mostly_capitals(de));
        assert_eq!(detect(de, 4096).0, "deu");
    }
}
