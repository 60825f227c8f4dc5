//! Application journeys (`store = "http"`, `engine = "goose"`): users moving through named
//! steps (log in, search, open a result) with think time between them, a value captured
//! from one response (a token, an id) used by later steps, journeys weighted against each
//! other, and goose's ramp (`test_plan`). This module reads and checks the file; every
//! problem names the journey, the step and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::spec::{Headers, PUBLIC_HEADERS};
use crate::error::{Error, InputIssue, Result};
use crate::source::{SourceFile, interpolate, parse_duration};

/// The workload file of a goose engine, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[allow(dead_code)]
    store: String,
    #[allow(dead_code)]
    engine: String,
    #[serde(default)]
    description: String,
    /// Concurrent users; the scenario's `load.concurrency` when unset.
    users: Option<u32>,
    /// goose's ramp: `USERS,DURATION;...`, e.g. `"0,0s;20,10s;20,60s;0,5s"`.
    test_plan: Option<String>,
    /// Journeys each user runs before stopping (0 or unset: until the duration ends).
    iterations: Option<u32>,
    /// goose's coordinated-omission mitigation: `disabled`, `average` (default),
    /// `minimum`, `maximum`.
    co_mitigation: Option<String>,
    journeys: BTreeMap<String, JourneyFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JourneyFile {
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    weight: u32,
    /// Pause between two steps: `"500ms"` or a range `"100ms..1s"`.
    think: Option<String>,
    /// Values drawn from sources at the start of each iteration, used as `{{name}}` by
    /// every step (percent-encoded in a path): `q = { from = "file", path = "terms.csv",
    /// column = "term" }`, or `"q,lang" = { ... columns = [...] }` from one row.
    #[serde(default)]
    params: BTreeMap<String, crate::dataset::Param<super::spec::NoGenerator>>,
    steps: Vec<StepFile>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    name: String,
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    headers: Headers,
    body: Option<String>,
    #[serde(default = "ok")]
    expect_status: u16,
    /// Values this step's response gives later steps: `{ token = { json = "/token" } }`
    /// or `{ session = { header = "x-session" } }`.
    #[serde(default)]
    capture: BTreeMap<String, CaptureFile>,
}

fn get() -> String {
    "GET".into()
}

fn ok() -> u16 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureFile {
    json: Option<String>,
    header: Option<String>,
}

/// Where a captured value comes from in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capture {
    /// A JSON pointer (RFC 6901) into the body; a string is taken as is, any other JSON
    /// value as its text.
    Json(String),
    /// A response header (lower case).
    Header(String),
}

/// One request of a journey, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub method: String,
    /// May hold `{{name}}` of a value an earlier step captured.
    pub path: String,
    pub headers: Headers,
    pub body: Option<String>,
    pub expect_status: u16,
    pub capture: BTreeMap<String, Capture>,
}

/// Think time between steps: fixed when `min == max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Think {
    #[serde(serialize_with = "millis")]
    pub min: Duration,
    #[serde(serialize_with = "millis")]
    pub max: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

#[derive(Debug, Clone, Serialize)]
pub struct Journey {
    pub name: String,
    pub description: String,
    pub weight: u32,
    pub think: Think,
    pub steps: Vec<Step>,
    /// The names each source fills at the start of an iteration, and the source.
    #[serde(skip)]
    pub params: Vec<(Vec<String>, std::sync::Arc<crate::dataset::Source>)>,
}

/// goose's coordinated-omission mitigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoMitigation {
    Disabled,
    Average,
    Minimum,
    Maximum,
}

pub const CO_MITIGATIONS: [&str; 4] = ["disabled", "average", "minimum", "maximum"];

/// One stage of a ramp: reach `users` over `over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub users: u32,
    #[serde(serialize_with = "millis")]
    pub over: Duration,
}

/// A goose workload file, checked.
#[derive(Debug, Clone, Serialize)]
pub struct Journeys {
    pub description: String,
    pub users: Option<u32>,
    pub test_plan: Option<Vec<Stage>>,
    pub iterations: Option<u32>,
    pub co_mitigation: CoMitigation,
    pub journeys: Vec<Journey>,
}

/// Methods a journey step may use: goose's (it sends no OPTIONS).
pub const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// The most users one process starts: goose runs each as a task with its own client.
pub const MAX_USERS: u32 = 10_000;

/// Reads and checks a goose workload file; every problem at once, each naming the journey,
/// the step and the field.
pub fn load(src: &SourceFile) -> Result<Journeys> {
    let file: File = src.parse()?;
    let mut issues: Vec<InputIssue> = Vec::new();
    let mut source_issues: Vec<InputIssue> = Vec::new();
    let mut bad = |field: &str, m: String| issues.push(src.issue(field, m));
    if let Some(u) = file.users
        && !(1..=MAX_USERS).contains(&u)
    {
        bad("users", format!("must be 1 to {MAX_USERS}, got {u}"));
    }
    let test_plan = match file.test_plan.as_deref().map(parse_test_plan) {
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            bad("test_plan", e);
            None
        }
        None => None,
    };
    let co_mitigation = match file.co_mitigation.as_deref().unwrap_or("average") {
        "disabled" => CoMitigation::Disabled,
        "average" => CoMitigation::Average,
        "minimum" => CoMitigation::Minimum,
        "maximum" => CoMitigation::Maximum,
        other => {
            bad(
                "co_mitigation",
                format!(
                    "`{other}` is not a goose mitigation; valid: {}",
                    CO_MITIGATIONS.join(", ")
                ),
            );
            CoMitigation::Average
        }
    };
    if file.journeys.is_empty() {
        bad(
            "journeys",
            "no journey: add one, e.g. [journeys.browse] with steps = [{ name = \"home\", path = \"/\" }]".into(),
        );
    }
    let mut journeys = Vec::new();
    for (jname, j) in file.journeys {
        let at = |f: &str| format!("journeys.{jname}.{f}");
        if !is_name(&jname) {
            bad(
                &format!("journeys.{jname}"),
                format!("`{jname}` is not a journey name: letters, digits, _ and -"),
            );
        }
        if j.weight == 0 {
            bad(&at("weight"), "must be at least 1".into());
        }
        let think = match j.think.as_deref().map(parse_think) {
            Some(Ok(t)) => t,
            Some(Err(e)) => {
                bad(&at("think"), e);
                Think::default()
            }
            None => Think::default(),
        };
        if j.steps.is_empty() {
            bad(&at("steps"), "a journey needs at least one step".into());
        }
        // Values captured by the steps so far, and the journey's drawn values: a step may
        // use only those.
        let mut captured: BTreeSet<String> = BTreeSet::new();
        let mut params = Vec::new();
        for (key, mut p) in j.params {
            let field = at(&format!("params.{key}"));
            let names: Vec<String> = crate::dataset::param_names(&key)
                .into_iter()
                .map(String::from)
                .collect();
            if names.is_empty() || names.iter().any(|n| !is_name(n) || n.contains('-')) {
                bad(
                    &field,
                    format!(
                        "`{key}` is not a value's name (letters, digits and _; several: \"a,b\")"
                    ),
                );
                continue;
            }
            if matches!(
                p.source().map(|s| &s.spec),
                Some(
                    crate::dataset::SourceSpec::Sample { .. }
                        | crate::dataset::SourceSpec::Vectors { .. }
                )
            ) {
                bad(
                    &field,
                    "a sample or a table's vectors needs a database query; a journey takes a file, range, list or time source".into(),
                );
                continue;
            }
            crate::dataset::load_param(src, &field, &mut p, &mut source_issues);
            let crate::dataset::Param::Source(s) = p;
            if s.spec.arity() != names.len() {
                bad(
                    &field,
                    format!(
                        "fills {} value(s) but `{key}` names {}; name one per column, e.g. \"a,b\"",
                        s.spec.arity(),
                        names.len()
                    ),
                );
            }
            captured.extend(names.iter().cloned());
            params.push((names, s));
        }
        let mut names = BTreeSet::new();
        let mut steps = Vec::new();
        for (i, mut s) in j.steps.into_iter().enumerate() {
            let f = |k: &str| at(&format!("steps[{i}].{k}"));
            let who = format!("journey {jname}, step {} (`{}`)", i + 1, s.name);
            match interpolate(&s.path) {
                Ok(p) => s.path = p,
                Err(e) => bad(&f("path"), format!("{who}: {e}")),
            }
            if !is_name(&s.name) {
                bad(
                    &f("name"),
                    format!(
                        "{who}: `{}` is not a step name: letters, digits, _ and -",
                        s.name
                    ),
                );
            } else if !names.insert(s.name.clone()) {
                bad(
                    &f("name"),
                    format!("{who}: another step of this journey has the same name"),
                );
            }
            if !METHODS.contains(&s.method.as_str()) {
                bad(
                    &f("method"),
                    format!(
                        "{who}: `{}` is not a method tunebench sends; valid: {}",
                        s.method,
                        METHODS.join(", ")
                    ),
                );
            }
            if !s.path.starts_with('/') || s.path.contains(char::is_whitespace) {
                bad(
                    &f("path"),
                    format!(
                        "{who}: `{}` must start with / and hold no spaces, e.g. \"/search?q=pg\"",
                        s.path
                    ),
                );
            }
            if !(100..=599).contains(&s.expect_status) {
                bad(
                    &f("expect_status"),
                    format!(
                        "{who}: {} is not an HTTP status; write 100..=599",
                        s.expect_status
                    ),
                );
            }
            if s.body.is_some() && s.method == "HEAD" {
                bad(&f("body"), format!("{who}: a HEAD request carries no body"));
            }
            // Every {{name}} a step uses must be captured by an earlier step.
            let mut uses: Vec<(String, String)> = vec![("path".into(), s.path.clone())];
            if let Some(b) = &s.body {
                uses.push(("body".into(), b.clone()));
            }
            for (h, v) in &s.headers.0 {
                uses.push((format!("headers.{h}"), v.clone()));
            }
            for (field, text) in &uses {
                match placeholders(text) {
                    Ok(found) => {
                        for p in found {
                            if !captured.contains(&p) {
                                bad(
                                    &f(field),
                                    format!(
                                        "{who}: uses {{{{{p}}}}}, which no earlier step of journey {jname} captures{}",
                                        if captured.is_empty() {
                                            " (none captures anything)".to_string()
                                        } else {
                                            format!(
                                                "; captured so far: {}",
                                                captured
                                                    .iter()
                                                    .cloned()
                                                    .collect::<Vec<_>>()
                                                    .join(", ")
                                            )
                                        }
                                    ),
                                );
                            }
                        }
                    }
                    Err(e) => bad(&f(field), format!("{who}: {e}")),
                }
            }
            let mut headers = s.headers;
            for (h, v) in headers.0.iter_mut() {
                let field = f(&format!("headers.{h}"));
                if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    bad(&field, format!("{who}: `{h}` is not a valid header name"));
                }
                match interpolate(v) {
                    Ok(value) => {
                        if !PUBLIC_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                            // Only the literal parts: a captured value is registered when
                            // it is captured.
                            for part in value.split("{{") {
                                let lit = part.split_once("}}").map_or(part, |(_, l)| l);
                                lit.split_whitespace().for_each(crate::secrets::register);
                            }
                        }
                        *v = value;
                    }
                    Err(e) => bad(&field, format!("{who}: {e}")),
                }
            }
            let body = match s.body.as_deref().map(interpolate) {
                Some(Ok(b)) => Some(b),
                Some(Err(e)) => {
                    bad(&f("body"), format!("{who}: {e}"));
                    None
                }
                None => None,
            };
            let mut capture = BTreeMap::new();
            for (name, c) in s.capture {
                let field = f(&format!("capture.{name}"));
                if !is_name(&name) || name.contains('-') {
                    bad(
                        &field,
                        format!("{who}: `{name}` is not a capture name: letters, digits and _"),
                    );
                }
                match (c.json, c.header) {
                    (Some(p), None) => match check_pointer(&p) {
                        Ok(()) => {
                            capture.insert(name.clone(), Capture::Json(p));
                        }
                        Err(e) => bad(&format!("{field}.json"), format!("{who}: {e}")),
                    },
                    (None, Some(h)) => {
                        if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                            bad(
                                &format!("{field}.header"),
                                format!("{who}: `{h}` is not a valid header name"),
                            );
                        } else {
                            capture.insert(name.clone(), Capture::Header(h.to_ascii_lowercase()));
                        }
                    }
                    _ => bad(
                        &field,
                        format!(
                            "{who}: give exactly one of json = \"/pointer\" (into the JSON body) or header = \"name\""
                        ),
                    ),
                }
                captured.insert(name);
            }
            steps.push(Step {
                name: s.name,
                method: s.method,
                path: s.path,
                headers,
                body,
                expect_status: s.expect_status,
                capture,
            });
        }
        journeys.push(Journey {
            name: jname,
            description: j.description,
            weight: j.weight,
            think,
            steps,
            params,
        });
    }
    issues.extend(source_issues);
    if !issues.is_empty() {
        return Err(Error::Input(issues));
    }
    Ok(Journeys {
        description: file.description,
        users: file.users,
        test_plan,
        iterations: file.iterations.filter(|&n| n > 0),
        co_mitigation,
        journeys,
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `{{name}}` placeholders of `text`, in order.
pub fn placeholders(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else {
            return Err(format!("`{{{{` without its `}}}}` in `{}`", shorten(text)));
        };
        let name = after[..j].trim();
        if !is_name(name) || name.contains('-') {
            return Err(format!(
                "`{{{{{name}}}}}` is not a captured value's name (letters, digits and _)"
            ));
        }
        out.push(name.to_string());
        rest = &after[j + 2..];
    }
    Ok(out)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s.to_string()
    }
}

/// An RFC 6901 JSON pointer: empty (the whole document) or `/`-separated tokens in which
/// `~` is only ever `~0` or `~1`.
pub fn check_pointer(p: &str) -> std::result::Result<(), String> {
    if !p.is_empty() && !p.starts_with('/') {
        return Err(format!(
            "`{p}` is not a JSON pointer: it starts with / (e.g. \"/token\", \"/results/0/id\"), or is \"\" for the whole body"
        ));
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "`{p}` is not a JSON pointer: `~` must be followed by 0 (for ~) or 1 (for /)"
            ));
        }
    }
    Ok(())
}

/// `"500ms"` or `"100ms..1s"`.
pub fn parse_think(t: &str) -> std::result::Result<Think, String> {
    let bad = || {
        format!(
            "`{t}` is not a think time; write a duration (\"500ms\") or a range (\"100ms..1s\")"
        )
    };
    let (a, b) = t.split_once("..").unwrap_or((t, t));
    let (min, max) = (
        parse_duration(a.trim()).ok_or_else(bad)?,
        parse_duration(b.trim()).ok_or_else(bad)?,
    );
    if min > max {
        return Err(format!("`{t}`: the range's start is after its end"));
    }
    if max > Duration::from_secs(3600) {
        return Err(format!("`{t}`: think times are at most 1h"));
    }
    Ok(Think { min, max })
}

/// goose's `--test-plan`: `USERS,DURATION` stages separated by `;`, e.g.
/// `"0,0s;20,10s;20,60s;0,5s"` (start at 0, ramp to 20 users in 10 s, hold 60 s, stop in
/// 5 s).
pub fn parse_test_plan(plan: &str) -> std::result::Result<Vec<Stage>, String> {
    let example = "e.g. \"0,0s;20,10s;20,60s;0,5s\" (users,duration per stage)";
    let mut stages = Vec::new();
    for (i, part) in plan.split(';').enumerate() {
        let part = part.trim();
        let Some((u, d)) = part.split_once(',') else {
            return Err(format!(
                "stage {} `{part}` is not USERS,DURATION; {example}",
                i + 1
            ));
        };
        let users: u32 = u.trim().parse().map_err(|_| {
            format!(
                "stage {}: `{}` is not a number of users; {example}",
                i + 1,
                u.trim()
            )
        })?;
        if users > MAX_USERS {
            return Err(format!(
                "stage {}: {users} users, above the {MAX_USERS} one process starts",
                i + 1
            ));
        }
        let over = stage_duration(d.trim()).ok_or_else(|| {
            format!(
                "stage {}: `{}` is not a duration in whole seconds (goose's plan counts seconds: \"90s\", \"1m30s\", \"2m\"); {example}",
                i + 1,
                d.trim()
            )
        })?;
        stages.push(Stage { users, over });
    }
    if stages.iter().all(|s| s.over.is_zero()) {
        return Err(format!("the plan takes no time; {example}"));
    }
    if stages.iter().all(|s| s.users == 0) {
        return Err(format!("the plan never starts a user; {example}"));
    }
    Ok(stages)
}

/// A stage's duration as goose reads it: whole seconds, written `90s`, `2m`, `1h`, or
/// goose's `1h30m10s` (a bare number is seconds).
fn stage_duration(t: &str) -> Option<Duration> {
    if let Ok(secs) = t.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Some(d) = parse_duration(t) {
        return (d.subsec_nanos() == 0).then_some(d);
    }
    // 1h30m10s: units in that order, each at most once.
    let mut secs = 0u64;
    let mut rest = t;
    for (unit, scale) in [('h', 3600u64), ('m', 60), ('s', 1)] {
        if let Some(i) = rest.find(unit) {
            let n: u64 = rest[..i].parse().ok()?;
            secs = secs.checked_add(n.checked_mul(scale)?)?;
            rest = &rest[i + 1..];
        }
    }
    (rest.is_empty() && !t.is_empty()).then(|| Duration::from_secs(secs))
}

/// The plan in goose's own syntax (`USERS,SECONDS;...`).
pub fn goose_test_plan(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| format!("{},{}", s.users, s.over.as_secs()))
        .collect::<Vec<_>>()
        .join(";")
}

/// `text` with every `{{name}}` replaced by its captured value; the values of `encoded`
/// names percent-encoded (drawn values in a path).
pub fn fill(
    text: &str,
    values: &BTreeMap<String, String>,
    encoded: &BTreeSet<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or("unclosed {{")?;
        let name = after[..j].trim();
        let v = values.get(name).ok_or_else(|| name.to_string())?;
        if encoded.contains(name) {
            out.push_str(&super::exec::percent_encode(v));
        } else {
            out.push_str(v);
        }
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value `c` takes from a response (its headers and body), if it is there.
pub fn captured(c: &Capture, headers: &reqwest::header::HeaderMap, body: &[u8]) -> Option<String> {
    match c {
        Capture::Header(h) => headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        Capture::Json(p) => {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            match v.pointer(p)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> std::result::Result<Journeys, String> {
        load(&SourceFile::new("journeys.toml", text)).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
store = "http"
engine = "goose"
users = 4
test_plan = "0,0s;4,2s;4,10s;0,1s"

[journeys.browse]
weight = 3
think = "100ms..300ms"
steps = [
  { name = "login", method = "POST", path = "/login", body = '{"user":"demo"}', headers = { "content-type" = "application/json" }, capture = { token = { json = "/token" } } },
  { name = "search", path = "/search?q=pg", headers = { authorization = "Bearer {{token}}" }, capture = { id = { json = "/results/0/id" } } },
  { name = "open", path = "/similar/{{id}}", headers = { authorization = "Bearer {{token}}" } },
]

[journeys.health]
steps = [{ name = "health", path = "/health" }]
"#;

    #[test]
    fn a_good_file_reads_back_whole() {
        let j = load_text(GOOD).unwrap();
        assert_eq!(j.journeys.len(), 2);
        let b = &j.journeys[0];
        assert_eq!((b.name.as_str(), b.weight, b.steps.len()), ("browse", 3, 3));
        assert_eq!(b.think.min, Duration::from_millis(100));
        assert_eq!(b.steps[0].capture["token"], Capture::Json("/token".into()));
        assert_eq!(j.co_mitigation, CoMitigation::Average);
        let plan = j.test_plan.unwrap();
        assert_eq!(plan.len(), 4);
        assert_eq!(goose_test_plan(&plan), "0,0;4,2;4,10;0,1");
        let combos = parse_test_plan("10,1m30s;10,1h;0,45").unwrap();
        assert_eq!(goose_test_plan(&combos), "10,90;10,3600;0,45");
        assert!(
            parse_test_plan("10,1.5s").is_err(),
            "goose counts whole seconds"
        );
        assert!(parse_test_plan("10,1s1m").is_err(), "units out of order");
    }

    #[test]
    fn a_value_no_earlier_step_captures_is_named() {
        // `id` is captured by the step after the one that uses it.
        let text = GOOD.replace("path = \"/search?q=pg\"", "path = \"/search?q={{id}}\"");
        let e = load_text(&text).unwrap_err();
        assert!(e.contains("journeys.browse.steps[1].path"), "{e}");
        assert!(
            e.contains("journey browse, step 2 (`search`): uses {{id}}, which no earlier step of journey browse captures; captured so far: token"),
            "{e}"
        );
    }

    #[test]
    fn bad_ramp_method_and_pointer_are_each_reported() {
        let text = GOOD
            .replace("0,0s;4,2s;4,10s;0,1s", "0,0s;4;0,1s")
            .replace("method = \"POST\"", "method = \"FETCH\"")
            .replace("json = \"/results/0/id\"", "json = \"results~2\"");
        let e = load_text(&text).unwrap_err();
        for want in [
            "test_plan",
            "stage 2 `4` is not USERS,DURATION",
            "steps[0].method",
            "`FETCH` is not a method",
            "steps[1].capture.id.json",
            "is not a JSON pointer",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn pointers_think_times_and_placeholders() {
        for ok in ["", "/a", "/a/0/b", "/a~0b/~1c"] {
            assert!(check_pointer(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "/a~", "/a~2"] {
            assert!(check_pointer(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_think("200ms").unwrap(),
            Think {
                min: Duration::from_millis(200),
                max: Duration::from_millis(200)
            }
        );
        assert!(parse_think("1s..100ms").is_err());
        assert!(parse_think("soon").is_err());
        assert_eq!(placeholders("/a/{{x}}/{{ y }}").unwrap(), ["x", "y"]);
        assert!(placeholders("/a/{{x").is_err());
        assert!(placeholders("/a/{{x-y}}").is_err());
        let values = BTreeMap::from([("x".to_string(), "1".to_string())]);
        let none = BTreeSet::new();
        assert_eq!(fill("/a/{{x}}/b", &values, &none).unwrap(), "/a/1/b");
        assert_eq!(fill("/a/{{z}}", &values, &none).unwrap_err(), "z");
        assert!(parse_test_plan("0,0s").is_err(), "takes no time");
        assert!(parse_test_plan("0,10s").is_err(), "never starts a user");
    }

    #[test]
    fn captured_values_come_from_the_body_or_a_header() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-session", "abc".parse().unwrap());
        let body = br#"{"token":"t1","results":[{"id":42}]}"#;
        assert_eq!(
            captured(&Capture::Json("/token".into()), &h, body).as_deref(),
            Some("t1")
        );
        assert_eq!(
            captured(&Capture::Json("/results/0/id".into()), &h, body).as_deref(),
            Some("42")
        );
        assert_eq!(captured(&Capture::Json("/missing".into()), &h, body), None);
        assert_eq!(
            captured(&Capture::Header("x-session".into()), &h, body).as_deref(),
            Some("abc")
        );
    }
}
