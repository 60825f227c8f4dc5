//! HTTP endpoint operations (`store = "http"` workloads): one request per op against the
//! target's base URL, judged by its status code.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::model::TargetKind;
use crate::backend::model::{OpDef, WorkloadDef, WorkloadFile};
use crate::error::{Error, Result};
use crate::source::SourceFile;
use crate::source::{interpolate, parse_duration};

/// Methods an op may use. CONNECT and TRACE are left out: neither measures an endpoint.
pub const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// One request, as written in the workload file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpOp {
    #[serde(default)]
    pub description: String,
    /// Appended to the target's base URL; starts with `/` and may carry a query.
    pub path: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Any other status counts as an error of kind `status_NNN`.
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// Request headers; values may use `${VAR}`. Values are never written to results or logs
    /// unless the header is on [`PUBLIC_HEADERS`].
    #[serde(default)]
    pub headers: Headers,
    /// Request body, sent as is.
    pub body: Option<String>,
    /// Per-request timeout (e.g. "500ms"), on top of the load's op_timeout.
    pub timeout: Option<String>,
    /// Values for the `{name}` placeholders of `path` (percent-encoded) and `body` (as they
    /// are, or `{name:json}` as a JSON value), drawn from declared sources before the clock
    /// starts; a key naming several (`"a,b"`) fills them from one row.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, crate::dataset::Param<NoGenerator>>,
    /// Set on the steps of a goose workload (`engine = "goose"`): the whole file, which
    /// runs as one attack; each step is one op of the workload, named `JOURNEY.STEP`.
    #[serde(skip)]
    pub journeys: Option<std::sync::Arc<super::journey::Journeys>>,
}

/// HTTP ops have no generators of their own: only declared sources fill their placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoGenerator {}

/// The `{name}` and `{name:json}` placeholders of a text: (start, end, name, as JSON).
pub fn placeholders(text: &str) -> Vec<(usize, usize, &str, bool)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // `{{name}}` is a goose capture, not a placeholder.
        if b[i] == b'{' && b.get(i + 1) == Some(&b'{') {
            i += 2;
            continue;
        }
        if b[i] == b'{' {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            let first_ok = b
                .get(start)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
            if first_ok && end > start {
                if b.get(end) == Some(&b'}') {
                    out.push((i, end + 1, &text[start..end], false));
                    i = end + 1;
                    continue;
                }
                if text[end..].starts_with(":json}") {
                    out.push((i, end + 6, &text[start..end], true));
                    i = end + 6;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn default_method() -> String {
    "GET".into()
}

fn default_status() -> u16 {
    200
}

impl HttpOp {
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.as_deref().and_then(parse_duration)
    }
}

/// Headers whose values are shown in results and logs; every other value is `***`, since
/// tokens hide under many names (Authorization, X-Api-Key, Cookie, vendor headers ...).
pub const PUBLIC_HEADERS: [&str; 6] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-type",
    "user-agent",
];

/// Request headers: the real values for the request, redacted everywhere else.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Headers(pub BTreeMap<String, String>);

impl Headers {
    fn shown(&self) -> BTreeMap<&str, &str> {
        self.0
            .iter()
            .map(|(k, v)| {
                let public = PUBLIC_HEADERS.contains(&k.to_ascii_lowercase().as_str());
                (k.as_str(), if public { v.as_str() } else { "***" })
            })
            .collect()
    }
}

impl Serialize for Headers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.shown().serialize(s)
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.shown()).finish()
    }
}

/// The engines an http workload file may name.
pub const ENGINES: [&str; 2] = ["native", "goose"];

#[derive(Deserialize)]
struct EngineOnly {
    engine: Option<toml::Value>,
}

pub fn load_ops(src: &SourceFile) -> Result<WorkloadDef> {
    let engine: EngineOnly = src.parse()?;
    let native_named = match engine.engine {
        None => false,
        Some(toml::Value::String(e)) if e == "goose" => return load_journeys(src),
        Some(toml::Value::String(e)) if e == "native" => true,
        Some(other) => {
            return Err(Error::input(src.issue(
                "engine",
                format!(
                    "{other} is not an engine; valid: {} (native: one request per op through tunebench's own driver, open loop possible; goose: journeys of steps with think time)",
                    ENGINES.map(|e| format!("\"{e}\"")).join(", ")
                ),
            )));
        }
    };
    let mut file: WorkloadFile<HttpOp> = if native_named {
        // `engine` is this loader's line, not the ops'.
        let mut table = src.parse_table()?;
        table.remove("engine");
        table
            .try_into()
            .map_err(|e: toml::de::Error| Error::input(src.issue("ops", e.message().to_string())))?
    } else {
        src.parse()?
    };
    let mut issues = Vec::new();
    for (name, op) in file.ops.iter_mut() {
        let f = |k: &str| format!("ops.{name}.{k}");
        match interpolate(&op.path) {
            Ok(p) => op.path = p,
            Err(e) => issues.push(src.issue(&f("path"), e)),
        }
        if !op.path.starts_with('/') || op.path.contains(char::is_whitespace) {
            issues.push(src.issue(
                &f("path"),
                format!(
                    "`{}` must start with / and hold no spaces, e.g. \"/health\"",
                    op.path
                ),
            ));
        }
        if !METHODS.contains(&op.method.as_str()) {
            issues.push(src.issue(
                &f("method"),
                format!(
                    "`{}` is not a method tunebench sends; valid: {}",
                    op.method,
                    METHODS.join(", ")
                ),
            ));
        }
        // Sources for the placeholders: each declared name used in the path or the body, each
        // placeholder of a declared name filled (other braces are left as written).
        let mut declared = Vec::new();
        for (key, p) in op.params.iter_mut() {
            let at = f(&format!("params.{key}"));
            let names = crate::dataset::param_names(key);
            if matches!(
                p.source().map(|s| &s.spec),
                Some(
                    crate::dataset::SourceSpec::Sample { .. }
                        | crate::dataset::SourceSpec::Vectors { .. }
                )
            ) {
                issues.push(src.issue(&at, "a sample or a table's vectors needs a database query; an http op takes a file, range, list or time source"));
            }
            crate::dataset::load_param(src, &at, p, &mut issues);
            if let Some(s) = p.source()
                && s.spec.arity() != names.len()
            {
                issues.push(src.issue(&at, format!(
                    "names {} placeholder(s) but its source gives {} value(s) per draw; name one per value (\"a,b\" for columns = [\"a\", \"b\"])",
                    names.len(),
                    s.spec.arity()
                )));
            }
            declared.extend(names.into_iter().map(String::from));
        }
        let used: Vec<&str> = placeholders(&op.path)
            .into_iter()
            .chain(op.body.as_deref().map(placeholders).unwrap_or_default())
            .map(|(_, _, n, _)| n)
            .collect();
        for d in &declared {
            if !used.contains(&d.as_str()) {
                issues.push(src.issue(
                    &f(&format!("params.{d}")),
                    format!("is not used: no {{{d}}} in the path or the body"),
                ));
            }
        }
        if placeholders(&op.path).iter().any(|(_, _, _, json)| *json) {
            issues.push(src.issue(
                &f("path"),
                "{name:json} belongs in a body; in a path write {name} (percent-encoded)",
            ));
        }
        if !(100..=599).contains(&op.expect_status) {
            issues.push(src.issue(
                &f("expect_status"),
                format!(
                    "{} is not an HTTP status; write 100..=599, e.g. 200",
                    op.expect_status
                ),
            ));
        }
        if let Some(t) = &op.timeout
            && parse_duration(t).is_none_or(|d| d.is_zero())
        {
            issues.push(src.issue(
                &f("timeout"),
                format!("`{t}` is not a duration above 0; write e.g. \"500ms\" or \"2s\""),
            ));
        }
        if op.body.is_some() && op.method == "HEAD" {
            issues.push(src.issue(&f("body"), "a HEAD request carries no body"));
        }
        for (h, v) in op.headers.0.iter_mut() {
            let field = f(&format!("headers.{h}"));
            if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                issues.push(src.issue(&field, format!("`{h}` is not a valid header name")));
            }
            match interpolate(v) {
                // The value itself is never echoed: it may be a token.
                Ok(value) if reqwest::header::HeaderValue::from_str(&value).is_err() => issues
                    .push(src.issue(
                        &field,
                        "the value (after ${VAR} substitution) is not a valid header value (no line breaks or control characters)",
                    )),
                Ok(value) => {
                    if !PUBLIC_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                        crate::secrets::register(&value);
                        // "Bearer TOKEN": the token alone may be quoted too.
                        value.split_whitespace().for_each(crate::secrets::register);
                    }
                    *v = value
                }
                Err(e) => issues.push(src.issue(&field, e)),
            }
        }
    }
    if issues.is_empty() {
        Ok(WorkloadDef {
            store: TargetKind::Http,
            description: file.description,
            ops: file
                .ops
                .into_iter()
                .map(|(k, v)| (k, OpDef::Http(v)))
                .collect(),
        })
    } else {
        Err(Error::Input(issues))
    }
}

/// A goose workload: each step of each journey is one op, `JOURNEY.STEP`, weighted by its
/// journey's weight; the whole file rides along on every step.
fn load_journeys(src: &SourceFile) -> Result<WorkloadDef> {
    let file = std::sync::Arc::new(super::journey::load(src)?);
    let mut ops = BTreeMap::new();
    for j in &file.journeys {
        for s in &j.steps {
            ops.insert(
                format!("{}.{}", j.name, s.name),
                OpDef::Http(HttpOp {
                    description: format!("journey {}, step {}", j.name, s.name),
                    path: s.path.clone(),
                    method: s.method.clone(),
                    expect_status: s.expect_status,
                    headers: s.headers.clone(),
                    body: s.body.clone(),
                    timeout: None,
                    params: BTreeMap::new(),
                    journeys: Some(file.clone()),
                }),
            );
        }
    }
    Ok(WorkloadDef {
        store: TargetKind::Http,
        description: file.description.clone(),
        ops,
    })
}

/// What a target URL must look like, and whether `url` does (checked without connecting).
pub const URL_EXPECTED: &str = "an HTTP base URL; expected http://HOST:PORT[/PREFIX] (no user:password@, no query; credentials go in an op's headers)";

pub fn url_fits(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && !url.contains('@')
        && !url.contains(['?', '#'])
        && reqwest::Url::parse(url).is_ok_and(|u| u.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_redacted_unless_public() {
        let h = Headers(
            [
                ("Authorization".to_string(), "Bearer s3cr3t".to_string()),
                ("X-Api-Key".to_string(), "k3y".to_string()),
                ("Accept".to_string(), "application/json".to_string()),
            ]
            .into(),
        );
        let json = serde_json::to_string(&h).unwrap();
        let debug = format!("{h:?}");
        for text in [&json, &debug] {
            assert!(!text.contains("s3cr3t") && !text.contains("k3y"), "{text}");
            assert!(text.contains("application/json"), "{text}");
            assert!(text.contains("Authorization"), "{text}");
        }
        // The request still gets the real value.
        assert_eq!(h.0["Authorization"], "Bearer s3cr3t");
    }
}
