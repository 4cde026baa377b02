//! Fault rules: which calls get a 429, a 5xx, extra latency or a connection reset.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::check_fraction;

/// What a fault does to the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// The rate-limit 429 body and headers.
    TooManyRequests,
    /// 500 Internal Server Error.
    InternalError,
    /// 502 Bad Gateway.
    BadGateway,
    /// 503 Service Unavailable.
    Unavailable,
    /// Delay, then serve normally.
    Latency,
    /// Close the TCP connection without a response.
    Reset,
}

impl FaultKind {
    /// The spelling used in rules and in the call log.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::TooManyRequests => "429",
            FaultKind::InternalError => "500",
            FaultKind::BadGateway => "502",
            FaultKind::Unavailable => "503",
            FaultKind::Latency => "latency",
            FaultKind::Reset => "reset",
        }
    }
}

impl FromStr for FaultKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "429" => FaultKind::TooManyRequests,
            "500" => FaultKind::InternalError,
            "502" => FaultKind::BadGateway,
            "503" => FaultKind::Unavailable,
            "latency" => FaultKind::Latency,
            "reset" => FaultKind::Reset,
            other => {
                return Err(format!(
                    "fault kind {other:?} is not 429, 500, 502, 503, latency or reset"
                ));
            }
        })
    }
}

/// When a matching call triggers the fault.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trigger {
    /// Every matching call.
    Always,
    /// Each matching call with this probability (seeded RNG).
    Probability(f64),
    /// Only the Nth matching call (1-based).
    Nth(u64),
    /// Every Nth matching call.
    Every(u64),
}

/// Whether the request is applied before the fault is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The request is not applied.
    #[default]
    Before,
    /// The request is applied; the client still sees the fault.
    After,
}

/// One fault rule (docs/AUTH0_API.md §11, fault rules).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    /// HTTP method to match; `None` or `*` matches any.
    pub method: Option<String>,
    /// Path glob (`*` = any run of characters); `None` matches every `/api/v2` path.
    pub path: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// When it happens.
    pub trigger: Trigger,
    /// Stop after firing this many times.
    pub times: Option<u64>,
    /// Delay of a `latency` fault, in milliseconds.
    pub latency_ms: u64,
    /// Before or after the request is applied.
    pub phase: Phase,
    /// Option keys set (`null`: removed) on the connection the call addresses when the fault
    /// fires, without any checks: an edit made in the Dashboard just as the call failed, so a
    /// test can see whether the client's retry erases it.
    pub edit_options: Option<Map<String, Value>>,
}

/// The JSON (and `k=v,…`) shape of a rule, as `POST /__emulator/faults` takes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRuleSpec {
    /// Method to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `429`, `500`, `502`, `503`, `latency` or `reset` (string or number).
    pub kind: Value,
    /// Trigger probability 0–1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Trigger on the Nth matching call only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Trigger on every Nth matching call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Stop after this many firings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Delay for `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// `before` or `after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Options edited out of band when the fault fires (JSON form only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_options: Option<Map<String, Value>>,
}

impl TryFrom<FaultRuleSpec> for FaultRule {
    type Error = String;

    fn try_from(spec: FaultRuleSpec) -> Result<Self, String> {
        let kind = match &spec.kind {
            Value::String(s) => s.parse()?,
            Value::Number(n) => n.to_string().parse()?,
            other => return Err(format!("fault kind {other} is not a string or number")),
        };
        let trigger = match (spec.probability, spec.nth, spec.every) {
            (None, None, None) => Trigger::Always,
            (Some(p), None, None) => {
                check_fraction("probability", p)?;
                Trigger::Probability(p)
            }
            (None, Some(n), None) if n >= 1 => Trigger::Nth(n),
            (None, None, Some(n)) if n >= 1 => Trigger::Every(n),
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err("nth and every must be at least 1".into());
            }
            _ => return Err("use only one of probability, nth and every".into()),
        };
        if kind == FaultKind::Latency && spec.latency_ms.is_none() {
            return Err("a latency fault needs latency_ms".into());
        }
        Ok(FaultRule {
            method: spec.method.filter(|m| m != "*"),
            path: spec.path,
            kind,
            trigger,
            times: spec.times,
            latency_ms: spec.latency_ms.unwrap_or(0),
            phase: spec.phase.unwrap_or_default(),
            edit_options: spec.edit_options,
        })
    }
}

impl From<&FaultRule> for FaultRuleSpec {
    fn from(rule: &FaultRule) -> Self {
        let (probability, nth, every) = match rule.trigger {
            Trigger::Always => (None, None, None),
            Trigger::Probability(p) => (Some(p), None, None),
            Trigger::Nth(n) => (None, Some(n), None),
            Trigger::Every(n) => (None, None, Some(n)),
        };
        FaultRuleSpec {
            method: rule.method.clone(),
            path: rule.path.clone(),
            kind: Value::String(rule.kind.as_str().into()),
            probability,
            nth,
            every,
            times: rule.times,
            latency_ms: (rule.kind == FaultKind::Latency).then_some(rule.latency_ms),
            phase: Some(rule.phase),
            edit_options: rule.edit_options.clone(),
        }
    }
}

impl FromStr for FaultRule {
    type Err = String;

    /// Parses the CLI form `method=PATCH,path=/api/v2/connections/*,kind=503,nth=3`.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut spec = FaultRuleSpec::default();
        let mut kind = None;
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("fault rule part {pair:?} is not key=value"));
            };
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| format!("fault rule {key}={v} is not a whole number"))
            };
            match key.trim() {
                "method" => spec.method = Some(value.to_string()),
                "path" => spec.path = Some(value.to_string()),
                "kind" => kind = Some(value.to_string()),
                "probability" => {
                    spec.probability =
                        Some(value.parse().map_err(|_| {
                            format!("fault rule probability={value} is not a number")
                        })?)
                }
                "nth" => spec.nth = Some(num(value)?),
                "every" => spec.every = Some(num(value)?),
                "times" => spec.times = Some(num(value)?),
                "latency_ms" => spec.latency_ms = Some(num(value)?),
                "phase" => {
                    spec.phase = Some(match value {
                        "before" => Phase::Before,
                        "after" => Phase::After,
                        other => {
                            return Err(format!("fault phase {other:?} is not before or after"));
                        }
                    })
                }
                other => {
                    return Err(format!(
                        "unknown fault rule key {other:?} (method, path, kind, probability, nth, every, times, latency_ms, phase)"
                    ));
                }
            }
        }
        let Some(kind) = kind else {
            return Err(format!("fault rule {s:?} has no kind"));
        };
        spec.kind = Value::String(kind);
        spec.try_into()
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.method.as_deref().unwrap_or("*"),
            self.path.as_deref().unwrap_or("/api/v2/*"),
            self.kind.as_str()
        )
    }
}

/// A rule with its counters.
#[derive(Clone, Debug)]
pub struct ActiveFault {
    /// The rule.
    pub rule: FaultRule,
    /// Matching calls seen so far.
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

impl ActiveFault {
    /// Wraps a fresh rule.
    pub fn new(rule: FaultRule) -> Self {
        ActiveFault {
            rule,
            matched: 0,
            fired: 0,
        }
    }

    /// Counts the call if it matches and says whether the fault fires for it.
    pub fn check(&mut self, method: &str, path: &str, rng: &mut impl Rng) -> bool {
        if !self.matches(method, path) {
            return false;
        }
        if self.rule.times.is_some_and(|t| self.fired >= t) {
            return false;
        }
        self.matched += 1;
        let fire = match self.rule.trigger {
            Trigger::Always => true,
            Trigger::Probability(p) => rng.gen_bool(p),
            Trigger::Nth(n) => self.matched == n,
            Trigger::Every(n) => self.matched.is_multiple_of(n),
        };
        if fire {
            self.fired += 1;
        }
        fire
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .rule
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = match self.rule.path.as_deref() {
            None => path.starts_with("/api/v2/") || path == "/api/v2",
            Some(glob) => glob_match(glob, path),
        };
        method_ok && path_ok
    }
}

/// `*` matches any run of characters (including `/`); everything else literally.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let parts: Vec<&str> = glob.split('*').collect();
    if parts.len() == 1 {
        return glob == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn cli_rules_parse_every_field() {
        let rule: FaultRule =
            "method=PATCH,path=/api/v2/connections/*,kind=503,nth=3,times=1,phase=after"
                .parse()
                .unwrap();
        assert_eq!(rule.method.as_deref(), Some("PATCH"));
        assert_eq!(rule.kind, FaultKind::Unavailable);
        assert_eq!(rule.trigger, Trigger::Nth(3));
        assert_eq!(rule.phase, Phase::After);
        assert!("kind=404".parse::<FaultRule>().is_err());
        assert!("kind=500,nth=1,every=2".parse::<FaultRule>().is_err());
        assert!("kind=latency".parse::<FaultRule>().is_err());
    }

    #[test]
    fn nth_fires_once_and_every_fires_periodically() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut nth = ActiveFault::new("kind=500,nth=2".parse().unwrap());
        let fired: Vec<bool> = (0..4)
            .map(|_| nth.check("GET", "/api/v2/connections", &mut rng))
            .collect();
        assert_eq!(fired, [false, true, false, false]);
        let mut every = ActiveFault::new("kind=500,every=2,times=2".parse().unwrap());
        let fired: Vec<bool> = (0..6)
            .map(|_| every.check("GET", "/api/v2/connections", &mut rng))
            .collect();
        assert_eq!(fired, [false, true, false, true, false, false]);
    }

    #[test]
    fn rules_without_a_path_leave_the_token_endpoint_alone() {
        let mut rng = StdRng::seed_from_u64(0);
        let mut rule = ActiveFault::new("kind=503".parse().unwrap());
        assert!(!rule.check("POST", "/oauth/token", &mut rng));
        assert!(rule.check("POST", "/api/v2/connections", &mut rng));
        let mut method = ActiveFault::new("kind=503,method=patch".parse().unwrap());
        assert!(!method.check("GET", "/api/v2/connections/con_1", &mut rng));
        assert!(method.check("PATCH", "/api/v2/connections/con_1", &mut rng));
    }

    #[test]
    fn globs_match_any_run_of_characters() {
        assert!(glob_match(
            "/api/v2/connections/*",
            "/api/v2/connections/con_1/clients"
        ));
        assert!(glob_match("*/clients", "/api/v2/connections/con_1/clients"));
        assert!(!glob_match("/api/v2/connections/*", "/api/v2/connections"));
        assert!(glob_match("*", "/oauth/token"));
        assert!(!glob_match("/a*b*c", "/abx"));
    }
}
