//! One worker's HTTP connection and the status counts all workers share.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha8Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};

use crate::backend::http::spec::HttpOp;
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
}

impl Request {
    pub fn new(base: &str, name: &str, op: &HttpOp) -> Result<Self> {
        let bad = |what: String| Error::Usage(format!("op {name}: {what}"));
        let url = Url::parse(&format!("{}{}", base.trim_end_matches('/'), op.path))
            .map_err(|e| bad(format!("base URL + {} is not a URL: {e}", op.path)))?;
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
            body: op.body.clone().map(Bytes::from),
            timeout: op.timeout(),
            expect: op.expect_status,
        })
    }

    /// `GET /health` (path and query only: the base URL is in the environment section).
    pub fn label(&self) -> String {
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
    let mut req = client
        .request(r.method.clone(), r.url.clone())
        .headers(r.headers.clone());
    if let Some(b) = &r.body {
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
    /// Nothing is drawn: an endpoint op is the same request every time.
    type Params = ();

    fn draw(&mut self, _op: usize, _rng: &mut ChaCha8Rng) {}

    async fn execute(&mut self, op: usize, _params: &()) -> std::result::Result<Done, OpError> {
        let r = &self.ops[op];
        let a = send(&self.client, r).await?;
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
        let sent = r.body.as_ref().map_or(0, |b| b.len() as u64);
        Ok(Done {
            bytes: a.bytes + sent,
        })
    }
}
