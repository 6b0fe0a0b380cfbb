//! LLM backend: an OpenAI-compatible `/v1/chat/completions` client (llama.cpp
//! server, Ollama `/v1`, vLLM, LM Studio) with our own serde types.
//!
//! One call per alert by default (analysis + proposal in one schema, for
//! small CPU models); `calls: two` runs the ROSES analysis, then the RACE
//! decision with the analysis as data (larger models). The schema's enums
//! hold only the alert's [`Choices`]; an answer outside them (a server that
//! ignores `json_schema`) is the `out_of_range` failure.
//!
//! Every request asks for a strict `json_schema` answer at temperature 0
//! with a fixed `seed`; llama.cpp reuses the cached system prompt unless
//! `cache_prompt_field` sends `cache_prompt: false` (repeatable answers, as the
//! contract tests want, at ~1.5 s more per alert on CPU). Every answer is validated again
//! here: HTTP status, `finish_reason == "stop"` (`length` means truncated
//! JSON even under a grammar), JSON, exact keys, enum values, integer
//! confidence 0–100. Failures are typed ([`LlmError::reason`] is the
//! `lanner_triage_llm_failures_total{reason}` label) and the caller falls
//! back to the policy. Nothing here is trusted to act.
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    metrics::TriageMetrics,
    model::{Action, Analysis, Choices, Classification, Proposal},
    prompt::{self, Ask},
};

/// How many calls one alert takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Calls {
    /// Analysis and proposal in one schema (default; small models).
    #[default]
    One,
    /// ROSES analysis, then RACE decision (larger models).
    Two,
}

/// Validated settings of the backend.
#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// Base URL ending in `/v1` (`/chat/completions` is appended).
    pub url: String,
    pub model: String,
    /// Budget for all calls of one alert.
    pub timeout: Duration,
    /// Answer tokens per call.
    pub max_tokens: u32,
    pub calls: Calls,
    /// Few-shot examples per prompt (0 = none).
    pub shots: usize,
    pub seed: u64,
    /// Send llama.cpp's `cache_prompt: false` (other servers ignore it).
    pub cache_prompt_field: bool,
    pub api_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("transport error: {0}")]
    Transport(String),
    #[error("HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unreadable response body: {0}")]
    BadResponse(String),
    #[error("answer truncated (finish_reason=length, {0} max tokens)")]
    Truncated(u32),
    #[error("unexpected finish_reason {0:?}")]
    FinishReason(String),
    #[error("answer is not JSON: {0}")]
    InvalidJson(String),
    #[error("answer does not fit the schema: {0}")]
    Schema(String),
    #[error("answer {action} / {classification} is outside the allowed choices")]
    OutOfRange { action: Action, classification: &'static str },
}

impl LlmError {
    /// `reason` label of `lanner_triage_llm_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            LlmError::Timeout(_) => "timeout",
            LlmError::Transport(_) => "transport",
            LlmError::Status { .. } => "http_status",
            LlmError::BadResponse(_) => "bad_response",
            LlmError::Truncated(_) => "truncated",
            LlmError::FinishReason(_) => "finish_reason",
            LlmError::InvalidJson(_) => "invalid_json",
            LlmError::Schema(_) => "schema",
            LlmError::OutOfRange { .. } => "out_of_range",
        }
    }
}

/// The calls for one alert.
#[derive(Debug)]
pub struct LlmOutcome {
    pub analysis: Result<Analysis, LlmError>,
    pub proposal: Result<Proposal, LlmError>,
    pub model: Option<String>,
    pub elapsed: Duration,
    /// Answer tokens over all calls (the server's `usage`, 0 if it sends none).
    pub completion_tokens: u64,
    pub calls: u32,
}

impl LlmOutcome {
    /// Answer tokens per second of the whole alert.
    pub fn tokens_per_second(&self) -> Option<f64> {
        let s = self.elapsed.as_secs_f64();
        (self.completion_tokens > 0 && s > 0.0).then(|| self.completion_tokens as f64 / s)
    }
}

// ---- wire types ----------------------------------------------------------------------------

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message; 2],
    temperature: f32,
    seed: u64,
    max_tokens: u32,
    stream: bool,
    response_format: ResponseFormat,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_prompt: Option<bool>,
}

#[derive(Serialize)]
struct Message {
    role: &'static str,
    content: String,
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchema,
}

#[derive(Serialize)]
struct JsonSchema {
    name: &'static str,
    schema: Value,
    strict: bool,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    completion_tokens: u64,
}

/// One call's answer and what it cost.
struct Answer {
    value: Value,
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct Choice {
    message: RespMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct RespMessage {
    #[serde(default)]
    content: Option<String>,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct LlmClient {
    http: reqwest::Client,
    settings: LlmSettings,
    endpoint: String,
    metrics: Option<std::sync::Arc<TriageMetrics>>,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("endpoint", &self.endpoint).field("model", &self.settings.model).finish()
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings, metrics: Option<std::sync::Arc<TriageMetrics>>) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| LlmError::Transport(e.to_string()))?;
        let endpoint = format!("{}/chat/completions", settings.url.trim_end_matches('/'));
        Ok(LlmClient { http, settings, endpoint, metrics })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The alert's calls (one or two), within the settings' timeout in total.
    pub async fn triage(&self, ask: &Ask) -> LlmOutcome {
        let start = Instant::now();
        let deadline = start + self.settings.timeout;
        let mut o = LlmOutcome {
            analysis: Err(LlmError::Timeout(self.settings.timeout)),
            proposal: Err(LlmError::Timeout(self.settings.timeout)),
            model: None,
            elapsed: Duration::ZERO,
            completion_tokens: 0,
            calls: 0,
        };
        let max = self.settings.max_tokens;
        match self.settings.calls {
            Calls::One => {
                let r = self
                    .call(
                        "triage",
                        prompt::one_call_system(),
                        prompt::user_message(ask, None),
                        prompt::one_call_schema(&ask.choices),
                        deadline,
                        max,
                        &mut o,
                    )
                    .await;
                match r.and_then(|v| validate_one_call(&v, &ask.choices)) {
                    Ok((an, p)) => {
                        o.analysis = Ok(an);
                        o.proposal = p;
                    }
                    Err(e) => {
                        o.analysis = Err(LlmError::Schema(format!("no analysis: {e}")));
                        o.proposal = Err(e);
                    }
                }
            }
            Calls::Two => {
                o.analysis = self
                    .call(
                        "analysis",
                        prompt::analysis_system(),
                        prompt::user_message(ask, None),
                        prompt::analysis_schema(),
                        deadline,
                        max,
                        &mut o,
                    )
                    .await
                    .and_then(|v| validate_analysis(&v));
                o.proposal = if let Err(LlmError::Timeout(t)) = &o.analysis {
                    Err(LlmError::Timeout(*t))
                } else {
                    let user = prompt::user_message(ask, o.analysis.as_ref().ok());
                    self.call(
                        "decision",
                        prompt::decision_system(),
                        user,
                        prompt::decision_schema(&ask.choices),
                        deadline,
                        max,
                        &mut o,
                    )
                    .await
                    .and_then(|v| validate_proposal(&v, &ask.choices))
                };
            }
        }
        o.elapsed = start.elapsed();
        if let Some(m) = &self.metrics {
            let failures = match self.settings.calls {
                Calls::One => vec![o.proposal.as_ref().err()],
                Calls::Two => vec![o.analysis.as_ref().err(), o.proposal.as_ref().err()],
            };
            for e in failures.into_iter().flatten() {
                m.llm_failure(e.reason());
            }
            m.llm_alert_latency.observe(o.elapsed.as_secs_f64());
            m.llm_completion_tokens.inc_by(o.completion_tokens);
            if let Some(tps) = o.tokens_per_second() {
                m.llm_tokens_per_second.observe(tps);
            }
        }
        o
    }

    /// Only the decision call, with an explicit token budget (contract tests).
    #[cfg_attr(not(test), allow(dead_code))] // used by tests and the eval/diagnostic paths
    pub async fn propose(&self, ask: &Ask, max_tokens: u32) -> Result<Proposal, LlmError> {
        let deadline = Instant::now() + self.settings.timeout;
        let mut o = LlmOutcome {
            analysis: Err(LlmError::Timeout(self.settings.timeout)),
            proposal: Err(LlmError::Timeout(self.settings.timeout)),
            model: None,
            elapsed: Duration::ZERO,
            completion_tokens: 0,
            calls: 0,
        };
        let r = self
            .call(
                "decision",
                prompt::decision_system(),
                prompt::user_message(ask, None),
                prompt::decision_schema(&ask.choices),
                deadline,
                max_tokens,
                &mut o,
            )
            .await
            .and_then(|v| validate_proposal(&v, &ask.choices));
        if let (Err(e), Some(m)) = (&r, &self.metrics) {
            m.llm_failure(e.reason());
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        name: &'static str,
        system: String,
        user: String,
        schema: Value,
        deadline: Instant,
        max_tokens: u32,
        o: &mut LlmOutcome,
    ) -> Result<Value, LlmError> {
        o.calls += 1;
        let a = self.call_once(name, system, user, schema, deadline, max_tokens, &mut o.model).await?;
        o.completion_tokens += a.completion_tokens;
        Ok(a.value)
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_once(
        &self,
        name: &'static str,
        system: String,
        user: String,
        schema: Value,
        deadline: Instant,
        max_tokens: u32,
        model: &mut Option<String>,
    ) -> Result<Answer, LlmError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LlmError::Timeout(self.settings.timeout));
        }
        let req = ChatRequest {
            model: &self.settings.model,
            messages: [Message { role: "system", content: system }, Message { role: "user", content: user }],
            temperature: 0.0,
            seed: self.settings.seed,
            max_tokens,
            stream: false,
            response_format: ResponseFormat {
                kind: "json_schema",
                json_schema: JsonSchema { name, schema, strict: true },
            },
            cache_prompt: self.settings.cache_prompt_field.then_some(false),
        };
        let started = Instant::now();
        let fut = async {
            let mut rb = self.http.post(&self.endpoint).json(&req);
            if let Some(k) = &self.settings.api_key {
                rb = rb.bearer_auth(k);
            }
            let resp = rb.send().await.map_err(|e| LlmError::Transport(e.to_string()))?;
            let status = resp.status();
            let body = resp.text().await.map_err(|e| LlmError::Transport(e.to_string()))?;
            Ok::<_, LlmError>((status, body))
        };
        let (status, body) = match tokio::time::timeout(left, fut).await {
            Err(_) => return Err(LlmError::Timeout(self.settings.timeout)),
            Ok(r) => r?,
        };
        if let Some(m) = &self.metrics {
            m.llm_latency.observe(started.elapsed().as_secs_f64());
        }
        if !status.is_success() {
            return Err(LlmError::Status { status: status.as_u16(), body: body.chars().take(300).collect() });
        }
        let resp: ChatResponse = serde_json::from_str(&body).map_err(|e| LlmError::BadResponse(e.to_string()))?;
        if resp.model.is_some() {
            *model = resp.model;
        }
        let choice = resp.choices.into_iter().next().ok_or_else(|| LlmError::BadResponse("no choices".into()))?;
        match choice.finish_reason.as_deref() {
            Some("stop") => {}
            Some("length") => return Err(LlmError::Truncated(max_tokens)),
            other => return Err(LlmError::FinishReason(other.unwrap_or("none").to_owned())),
        }
        let completion_tokens = resp.usage.map_or(0, |u| u.completion_tokens);
        let content = choice.message.content.ok_or_else(|| LlmError::BadResponse("no message content".into()))?;
        let value = serde_json::from_str(&content)
            .map_err(|e| LlmError::InvalidJson(format!("{e}: {}", clip(&content, 120))))?;
        Ok(Answer { value, completion_tokens })
    }
}

fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn object<'a>(v: &'a Value, keys: &[&str]) -> Result<&'a serde_json::Map<String, Value>, LlmError> {
    let o = v.as_object().ok_or_else(|| LlmError::Schema("not an object".into()))?;
    for k in o.keys() {
        if !keys.contains(&k.as_str()) {
            return Err(LlmError::Schema(format!("unexpected key {k:?}")));
        }
    }
    for k in keys {
        if !o.contains_key(*k) {
            return Err(LlmError::Schema(format!("missing key {k:?}")));
        }
    }
    Ok(o)
}

fn string(o: &serde_json::Map<String, Value>, k: &str, max: usize) -> Result<String, LlmError> {
    let s = o[k].as_str().ok_or_else(|| LlmError::Schema(format!("{k} is not a string")))?;
    Ok(clip(s, max))
}

/// Check an analysis answer against its schema.
pub fn validate_analysis(v: &Value) -> Result<Analysis, LlmError> {
    let o = object(v, &["summary", "evidence", "benign_explanation"])?;
    let evidence = evidence_items(o)?;
    Ok(Analysis {
        summary: string(o, "summary", 600)?,
        evidence,
        benign_explanation: string(o, "benign_explanation", 400)?,
    })
}

/// Check a decision answer against its schema: enums, integer 0–100, and
/// the alert's choices.
pub fn validate_proposal(v: &Value, choices: &Choices) -> Result<Proposal, LlmError> {
    let o = object(v, &["action", "classification", "confidence", "rationale"])?;
    in_choices(proposal_fields(o)?, choices)
}

/// Check a one-call answer: the analysis part and the proposal part.
pub fn validate_one_call(v: &Value, choices: &Choices) -> Result<(Analysis, Result<Proposal, LlmError>), LlmError> {
    let o = object(v, &["summary", "evidence", "action", "classification", "confidence", "rationale"])?;
    let analysis = Analysis {
        summary: string(o, "summary", 600)?,
        evidence: evidence_items(o)?,
        benign_explanation: String::new(),
    };
    Ok((analysis, in_choices(proposal_fields(o)?, choices)))
}

fn in_choices(p: Proposal, choices: &Choices) -> Result<Proposal, LlmError> {
    if choices.allows(&p) {
        Ok(p)
    } else {
        Err(LlmError::OutOfRange { action: p.action, classification: p.classification.as_str() })
    }
}

fn evidence_items(o: &serde_json::Map<String, Value>) -> Result<Vec<String>, LlmError> {
    let ev = o["evidence"].as_array().ok_or_else(|| LlmError::Schema("evidence is not an array".into()))?;
    ev.iter()
        .take(5)
        .map(|e| {
            e.as_str().map(|s| clip(s, 160)).ok_or_else(|| LlmError::Schema("evidence item is not a string".into()))
        })
        .collect()
}

fn proposal_fields(o: &serde_json::Map<String, Value>) -> Result<Proposal, LlmError> {
    let action = o["action"]
        .as_str()
        .ok_or_else(|| LlmError::Schema("action is not a string".into()))?
        .parse::<Action>()
        .map_err(LlmError::Schema)?;
    let classification = o["classification"]
        .as_str()
        .ok_or_else(|| LlmError::Schema("classification is not a string".into()))?
        .parse::<Classification>()
        .map_err(LlmError::Schema)?;
    let c = &o["confidence"];
    let confidence = match c.as_i64() {
        Some(n) if (0..=100).contains(&n) => n as u8,
        Some(n) => return Err(LlmError::Schema(format!("confidence {n} outside 0..=100"))),
        None => return Err(LlmError::Schema(format!("confidence {c} is not an integer"))),
    };
    Ok(Proposal { action, classification, confidence, rationale: string(o, "rationale", 600)? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn proposal_validation_is_strict() {
        let ok = json!({"action": "escalate", "classification": "unknown", "confidence": 55, "rationale": "r"});
        let p = validate_proposal(&ok, &Choices::all()).unwrap();
        assert_eq!((p.action, p.confidence), (Action::Escalate, 55));
        for (bad, want) in [
            (
                json!({"action": "nuke", "classification": "unknown", "confidence": 5, "rationale": ""}),
                "unknown action",
            ),
            (
                json!({"action": "ignore", "classification": "meh", "confidence": 5, "rationale": ""}),
                "unknown classification",
            ),
            (json!({"action": "ignore", "classification": "benign", "confidence": 101, "rationale": ""}), "outside"),
            (json!({"action": "ignore", "classification": "benign", "confidence": -1, "rationale": ""}), "outside"),
            (
                json!({"action": "ignore", "classification": "benign", "confidence": 50.5, "rationale": ""}),
                "not an integer",
            ),
            (
                json!({"action": "ignore", "classification": "benign", "confidence": "90", "rationale": ""}),
                "not an integer",
            ),
            (json!({"action": "ignore", "classification": "benign", "confidence": 9}), "missing key"),
            (
                json!({"action": "ignore", "classification": "benign", "confidence": 9, "rationale": "", "mitre": "T1"}),
                "unexpected key",
            ),
            (json!(["ignore"]), "not an object"),
        ] {
            let e = validate_proposal(&bad, &Choices::all()).unwrap_err();
            assert_eq!(e.reason(), "schema");
            assert!(e.to_string().contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn answers_outside_the_choices_are_out_of_range() {
        let c = Choices {
            actions: vec![Action::Escalate, Action::QuarantinePod],
            classifications: vec![Classification::TruePositive],
        };
        let ok =
            json!({"action": "quarantine_pod", "classification": "true_positive", "confidence": 80, "rationale": "r"});
        assert_eq!(validate_proposal(&ok, &c).unwrap().action, Action::QuarantinePod);
        for bad in [
            json!({"action": "ignore", "classification": "true_positive", "confidence": 80, "rationale": "r"}),
            json!({"action": "delete_pod", "classification": "true_positive", "confidence": 80, "rationale": "r"}),
            json!({"action": "escalate", "classification": "benign", "confidence": 80, "rationale": "r"}),
        ] {
            let e = validate_proposal(&bad, &c).unwrap_err();
            assert_eq!(e.reason(), "out_of_range", "{bad}: {e}");
        }
        // One call: the analysis survives an out-of-range proposal.
        let one = json!({"summary": "s", "evidence": ["a"], "action": "ignore", "classification": "true_positive",
            "confidence": 80, "rationale": "r"});
        let (an, p) = validate_one_call(&one, &c).unwrap();
        assert_eq!(an.summary, "s");
        assert_eq!(p.unwrap_err().reason(), "out_of_range");
        let missing = json!({"summary": "s", "action": "escalate", "classification": "true_positive", "confidence": 1, "rationale": ""});
        assert_eq!(validate_one_call(&missing, &c).unwrap_err().reason(), "schema");
    }

    #[test]
    fn analysis_validation() {
        let a =
            validate_analysis(&json!({"summary": "s", "evidence": ["a", "b"], "benign_explanation": "none"})).unwrap();
        assert_eq!(a.evidence.len(), 2);
        assert!(validate_analysis(&json!({"summary": "s", "evidence": [1], "benign_explanation": ""})).is_err());
        assert!(validate_analysis(&json!({"summary": "s", "evidence": "x", "benign_explanation": ""})).is_err());
    }

    #[test]
    fn request_shape_matches_the_openai_contract() {
        let req = ChatRequest {
            model: "m",
            messages: [Message { role: "system", content: "s".into() }, Message { role: "user", content: "u".into() }],
            temperature: 0.0,
            seed: 7,
            max_tokens: 64,
            stream: false,
            response_format: ResponseFormat {
                kind: "json_schema",
                json_schema: JsonSchema { name: "decision", schema: json!({"type": "object"}), strict: true },
            },
            cache_prompt: Some(false),
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["response_format"]["type"], "json_schema");
        assert_eq!(v["response_format"]["json_schema"]["strict"], true);
        assert_eq!(v["response_format"]["json_schema"]["name"], "decision");
        assert_eq!(
            (v["temperature"].as_f64(), v["seed"].as_u64(), v["cache_prompt"].as_bool()),
            (Some(0.0), Some(7), Some(false))
        );
        assert_eq!(v["messages"][1]["role"], "user");
    }
}
