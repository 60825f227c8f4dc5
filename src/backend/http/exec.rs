//! One worker's HTTP connection and the status counts all workers share.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};

use crate::backend::http::spec::{HttpOp, NoGenerator, placeholders};
use crate::dataset::{Param, ParamValue};
use crate::driver::{Done, Executor, OpError};
use crate::error::{Error, Result};

/// One op, ready to send: everything parsed once, outside the measured loop.
#[derive(Debug)]
pub struct Request {
    pub name: String,
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Option<Duration>,
    pub expect: u16,
    /// Set when the path or the body has `{name}` placeholders: each operation's URL and
    /// body are filled from the sources before its clock starts (`url` and `body` above are
    /// one such fill, for the readiness probe).
    pub template: Option<Arc<Template>>,
}

/// A request's path and body with their placeholders, and the sources that fill them.
#[derive(Debug)]
pub struct Template {
    base: String,
    path: String,
    body: Option<String>,
    params: Vec<(String, Param<NoGenerator>)>,
}

impl Template {
    /// One draw of every parameter, by name.
    fn draw(&self, rng: &mut ChaCha8Rng) -> Vec<(String, ParamValue)> {
        let mut out = Vec::new();
        let mut values = Vec::new();
        for (key, p) in &self.params {
            if let Param::Source(s) = p {
                values.clear();
                s.draw(rng, &mut values);
                let names = crate::dataset::param_names(key);
                out.extend(names.into_iter().map(String::from).zip(values.drain(..)));
            }
        }
        out
    }

    /// The URL and body with the drawn values in place.
    fn fill(
        &self,
        values: &[(String, ParamValue)],
    ) -> std::result::Result<(Url, Option<Bytes>), String> {
        let value = |name: &str| values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let render = |text: &str, in_path: bool| {
            let mut out = String::with_capacity(text.len() + 16);
            let mut last = 0;
            for (start, end, name, json) in placeholders(text) {
                let Some(v) = value(name) else { continue };
                out.push_str(&text[last..start]);
                let plain = text_of(v);
                if in_path {
                    out.push_str(&percent_encode(&plain));
                } else if json {
                    out.push_str(&json_of(v));
                } else {
                    out.push_str(&plain);
                }
                last = end;
            }
            out.push_str(&text[last..]);
            out
        };
        let url = format!(
            "{}{}",
            self.base.trim_end_matches('/'),
            render(&self.path, true)
        );
        let url = Url::parse(&url).map_err(|e| format!("the filled path is not a URL: {e}"))?;
        Ok((
            url,
            self.body.as_deref().map(|b| Bytes::from(render(b, false))),
        ))
    }
}

pub(super) fn text_of(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => f.to_string(),
        ParamValue::Text(s) => s.clone(),
        ParamValue::Time(t) => t.to_rfc3339(),
        other => json_of(other),
    }
}

fn json_of(v: &ParamValue) -> String {
    match v {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| "null".into(), |n| n.to_string())
        }
        ParamValue::Text(s) => serde_json::Value::String(s.clone()).to_string(),
        ParamValue::Time(t) => serde_json::Value::String(t.to_rfc3339()).to_string(),
        other => serde_json::to_string(other).unwrap_or_else(|_| "null".into()),
    }
}

/// Every byte but unreserved ones (`A-Z a-z 0-9 - . _ ~`) as %XX: safe in a path segment and
/// in a query value alike.
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Request {
    pub fn new(base: &str, name: &str, op: &HttpOp) -> Result<Self> {
        let bad = |what: String| Error::Usage(format!("op {name}: {what}"));
        let template = (!op.params.is_empty()).then(|| {
            Arc::new(Template {
                base: base.to_string(),
                path: op.path.clone(),
                body: op.body.clone(),
                params: op
                    .params
                    .iter()
                    .map(|(k, p)| (k.clone(), p.clone()))
                    .collect(),
            })
        });
        // One fill (the same every run) gives the readiness probe its URL.
        let filled = match &template {
            Some(t) => {
                let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
                    crate::dataset::name_seed(name, "readiness"),
                );
                Some(t.fill(&t.draw(&mut rng)).map_err(bad)?)
            }
            None => None,
        };
        let url = match &filled {
            Some((u, _)) => u.clone(),
            None => Url::parse(&format!("{}{}", base.trim_end_matches('/'), op.path))
                .map_err(|e| bad(format!("base URL + {} is not a URL: {e}", op.path)))?,
        };
        let method = Method::from_bytes(op.method.as_bytes())
            .map_err(|_| bad(format!("`{}` is not a method", op.method)))?;
        let mut headers = HeaderMap::new();
        for (k, v) in &op.headers.0 {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| bad(format!("`{k}` is not a header name")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| bad(format!("header {k} has an invalid value")))?;
            // Keeps the value out of any debug output of the request.
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(Request {
            name: name.to_string(),
            method,
            url,
            headers,
            body: match filled {
                Some((_, body)) => body,
                None => op.body.clone().map(Bytes::from),
            },
            timeout: op.timeout(),
            expect: op.expect_status,
            template,
        })
    }

    /// `GET /health` (path and query only: the base URL is in the environment section); a
    /// templated request shows its placeholders, never the values drawn for them.
    pub fn label(&self) -> String {
        if let Some(t) = &self.template {
            return format!("{} {}", self.method, t.path);
        }
        let query = self
            .url
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!("{} {}{query}", self.method, self.url.path())
    }
}

/// Classifies a client error by what failed, without the URL (it is in the op's label).
pub fn client_error(e: reqwest::Error) -> OpError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "http"
    };
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    OpError {
        kind: kind.into(),
        message,
    }
}

/// A builder for one worker's client: one keep-alive connection, no redirects followed (a
/// redirect is an answer to judge, not to hide), no proxy from the environment.
pub fn client(idle: Duration, connect: Duration) -> Result<Client> {
    Client::builder()
        .pool_max_idle_per_host(1)
        .pool_idle_timeout(idle)
        .connect_timeout(connect)
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| Error::target("http client", client_error(e).message))
}

/// Responses by (op index, status) and the first `Server` header seen, since the last take.
#[derive(Default)]
pub struct Counts {
    inner: Mutex<CountsInner>,
}

#[derive(Default)]
pub struct CountsInner {
    pub statuses: BTreeMap<(usize, u16), u64>,
    pub server: Option<String>,
}

impl Counts {
    fn record(&self, op: usize, status: u16, server: Option<&HeaderValue>) {
        let mut c = self.inner.lock().expect("not poisoned");
        *c.statuses.entry((op, status)).or_default() += 1;
        if c.server.is_none() {
            c.server = server.and_then(|v| v.to_str().ok()).map(str::to_string);
        }
    }

    /// Responses counted elsewhere (a goose attack's log), by (op index, status).
    pub fn add(&self, statuses: &BTreeMap<(usize, u16), u64>) {
        let mut c = self.inner.lock().expect("not poisoned");
        for (&k, &n) in statuses {
            *c.statuses.entry(k).or_default() += n;
        }
    }

    pub fn take(&self) -> CountsInner {
        std::mem::take(&mut *self.inner.lock().expect("not poisoned"))
    }
}

pub struct HttpExec {
    client: Client,
    ops: Arc<Vec<Request>>,
    counts: Arc<Counts>,
}

impl HttpExec {
    pub fn new(client: Client, ops: Arc<Vec<Request>>, counts: Arc<Counts>) -> Self {
        HttpExec {
            client,
            ops,
            counts,
        }
    }
}

/// Sends one request and reads the whole body; returns the status, the `Server` header and
/// the body's size.
pub async fn send(client: &Client, r: &Request) -> std::result::Result<Answer, OpError> {
    send_to(client, r, &r.url, r.body.as_ref()).await
}

/// `send` with this URL and body (a templated request's fill).
pub async fn send_to(
    client: &Client,
    r: &Request,
    url: &Url,
    body: Option<&Bytes>,
) -> std::result::Result<Answer, OpError> {
    let mut req = client
        .request(r.method.clone(), url.clone())
        .headers(r.headers.clone());
    if let Some(b) = body {
        req = req.body(b.clone());
    }
    if let Some(t) = r.timeout {
        req = req.timeout(t);
    }
    let mut resp = req.send().await.map_err(client_error)?;
    let status = resp.status().as_u16();
    let server = resp.headers().get(reqwest::header::SERVER).cloned();
    let mut bytes = 0u64;
    // Read to the end: the answer is complete only when its body is, and the connection
    // goes back to the pool only then.
    while let Some(chunk) = resp.chunk().await.map_err(client_error)? {
        bytes += chunk.len() as u64;
    }
    Ok(Answer {
        status,
        server,
        bytes,
    })
}

pub struct Answer {
    pub status: u16,
    pub server: Option<HeaderValue>,
    pub bytes: u64,
}

impl Executor for HttpExec {
    /// A templated op's URL and body, filled before the clock starts; nothing for an op that
    /// is the same request every time.
    type Params = Option<std::result::Result<(Url, Option<Bytes>), String>>;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Self::Params {
        let t = self.ops[op].template.as_ref()?;
        Some(t.fill(&t.draw(rng)))
    }

    async fn execute(
        &mut self,
        op: usize,
        params: &Self::Params,
    ) -> std::result::Result<Done, OpError> {
        let r = &self.ops[op];
        let (a, sent) = match params {
            None => (
                send(&self.client, r).await?,
                r.body.as_ref().map_or(0, |b| b.len() as u64),
            ),
            Some(Ok((url, body))) => (
                send_to(&self.client, r, url, body.as_ref()).await?,
                body.as_ref().map_or(0, |b| b.len() as u64),
            ),
            Some(Err(e)) => {
                return Err(OpError {
                    kind: "bad_fill".into(),
                    message: format!("{}: {e}", r.label()),
                });
            }
        };
        self.counts.record(op, a.status, a.server.as_ref());
        if a.status != r.expect {
            return Err(OpError {
                kind: format!("status_{}", a.status),
                message: format!(
                    "{} answered {} ({} bytes), expected {}",
                    r.label(),
                    a.status,
                    a.bytes,
                    r.expect
                ),
            });
        }
        // Payload moved: the request body sent and the response body received.
        Ok(Done {
            bytes: a.bytes + sent,
        })
    }
}
