//! Selection policies: parsing, printing and the reject reason of each (FORMAT.md,
//! "Selection policies"). The same strings in the config, the CLI and Python.

use crate::config::Config;
use crate::{Error, Result};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Docs,
    Bytes,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    Range {
        score: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Top {
        score: String,
        fraction: f64,
        /// Keep the highest scores (`top`), else the lowest (`bottom`).
        highest: bool,
    },
    Quota {
        group: String,
        unit: Unit,
        caps: Vec<(String, f64)>,
    },
}

fn num(v: f64) -> String {
    format!("{v}")
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Range { score, min, max } => {
                let mut parts = Vec::new();
                if let Some(m) = min {
                    parts.push(format!("min={}", num(*m)));
                }
                if let Some(m) = max {
                    parts.push(format!("max={}", num(*m)));
                }
                write!(f, "{score}:{}", parts.join(","))
            }
            Policy::Top {
                score,
                fraction,
                highest,
            } => write!(
                f,
                "{score}:{}={}",
                if *highest { "top" } else { "bottom" },
                num(*fraction)
            ),
            Policy::Quota { group, unit, caps } => {
                let caps: Vec<String> = caps
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", num(*v)))
                    .collect();
                let op = if *unit == Unit::Docs {
                    "quota"
                } else {
                    "quota_bytes"
                };
                write!(f, "{group}:{op}={}", caps.join(","))
            }
        }
    }
}

fn fraction(s: &str, what: &str) -> std::result::Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{what} `{s}` is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{what} {v} is not a fraction in [0, 1]"));
    }
    Ok(v)
}

impl Policy {
    /// Parse a policy string; the error says what is wrong (the caller names the key).
    pub fn parse(s: &str) -> std::result::Result<Policy, String> {
        let (name, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected SCORE:OP=VALUE (e.g. domain_score:top=0.5)"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("`{s}`: no score name before ':'"));
        }
        let (op, value) = rest
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected OP=VALUE after '{name}:'"))?;
        match op.trim() {
            "quota" | "quota_bytes" => {
                let unit = if op.trim() == "quota" {
                    Unit::Docs
                } else {
                    Unit::Bytes
                };
                let mut caps = Vec::new();
                for part in value.split(',') {
                    let (k, v) = part.split_once(':').ok_or_else(|| {
                        format!("`{s}`: quota entry `{part}` is not GROUP:FRACTION")
                    })?;
                    let k = k.trim().to_string();
                    if caps.iter().any(|(c, _)| *c == k) {
                        return Err(format!("`{s}`: group `{k}` listed twice"));
                    }
                    caps.push((k, fraction(v, "quota")?));
                }
                Ok(Policy::Quota {
                    group: name.into(),
                    unit,
                    caps,
                })
            }
            "top" | "bottom" => Ok(Policy::Top {
                score: name.into(),
                fraction: fraction(value, op.trim()).map_err(|e| format!("`{s}`: {e}"))?,
                highest: op.trim() == "top",
            }),
            _ => {
                let (mut min, mut max) = (None, None);
                for part in rest.split(',') {
                    let (k, v) = part
                        .split_once('=')
                        .ok_or_else(|| format!("`{s}`: `{part}` is not min=X or max=X"))?;
                    let v: f64 = v
                        .trim()
                        .parse()
                        .ok()
                        .filter(|v: &f64| !v.is_nan())
                        .ok_or_else(|| format!("`{s}`: `{v}` is not a number"))?;
                    match k.trim() {
                        "min" => min = Some(v),
                        "max" => max = Some(v),
                        other => {
                            return Err(format!(
                                "`{s}`: unknown operation `{other}` (expected min, max, top, bottom, quota or quota_bytes)"
                            ))
                        }
                    }
                }
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        return Err(format!("`{s}`: min {a} > max {b}"));
                    }
                }
                Ok(Policy::Range {
                    score: name.into(),
                    min,
                    max,
                })
            }
        }
    }

    /// The reject reason of the documents this policy removes: the score's name, or for a
    /// quota `language` (group `lang`), else the group's name.
    pub fn reason(&self) -> String {
        match self {
            Policy::Range { score, .. } | Policy::Top { score, .. } => score.clone(),
            Policy::Quota { group, .. } if group == "lang" => "language".into(),
            Policy::Quota { group, .. } => group.clone(),
        }
    }
}

/// A job's policies: `language.quotas` first (as a `lang` quota), then `select.policies`.
pub fn policies(config: &Config) -> Result<Vec<Policy>> {
    let mut out = Vec::new();
    let l = &config.language;
    if !l.quotas.is_empty() {
        out.push(Policy::Quota {
            group: "lang".into(),
            unit: if l.quota_unit == "bytes" {
                Unit::Bytes
            } else {
                Unit::Docs
            },
            caps: l.quotas.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        });
    }
    for (i, s) in config.select.policies.iter().enumerate() {
        out.push(
            Policy::parse(s).map_err(|e| Error::Config(format!("select.policies[{i}]: {e}")))?,
        );
    }
    Ok(out)
}
