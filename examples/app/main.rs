//! A small application on the four stores, to aim tunebench's journeys at
//! (`scenarios/app-journeys.toml`, docs/journeys.md): what users feel of the database tuning,
//! end to end.
//!
//! ```text
//! cargo run --release --example app -- --listen 127.0.0.1:8080
//! ```
//!
//! Endpoints (JSON in, JSON out; every one but `/health` and `/login` wants
//! `Authorization: Bearer TOKEN` from `/login`):
//! - `GET /health`: checks PostgreSQL, Neo4j, MinIO and (when a URL is set) Qdrant, each with
//!   a real request, and reports each one's version and time; 503 when a configured store fails.
//! - `POST /login` `{"user": "..."}` -> `{"token": "..."}`.
//! - `GET /trending` -> three search terms drawn from the corpus (what a home page suggests).
//! - `GET /search?q=` -> top 10 documents by PostgreSQL full-text rank.
//! - `GET /similar/{id}` -> the 10 nearest vectors (pgvector, cosine) to document `id`'s vector.
//! - `GET /related/{id}` -> documents sharing topics with document `id` (Neo4j, two hops).
//! - `POST /files` (the body is the file) -> stored in MinIO through an S3 multipart upload
//!   (8 MiB parts), `201`.
//!
//! The data are tunebench's own synthetic datasets (the scenario loads them first): documents
//! in PostgreSQL, vectors in pgvector and a graph in Neo4j are separate corpora, so the app
//! pairs document `d` with vector item `(d - 1) % items + 1` and graph document
//! `(d - 1) % graph_documents`. Uploads go to a bucket the app creates (`tunebench-app` by
//! default), at most 256 objects (keys are reused), so a long run does not fill the disk.
//!
//! Credentials come from the environment (the stack's `TUNEBENCH_*` variables) and never
//! appear in responses or logs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{OnceCell, RwLock};

#[derive(Parser, Debug)]
#[command(
    about = "A small application on PostgreSQL, pgvector, Neo4j and MinIO for tunebench's journeys"
)]
struct Args {
    /// Address to listen on (loopback by default).
    #[arg(long, env = "APP_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// PostgreSQL (documents and vectors).
    #[arg(
        long,
        env = "TUNEBENCH_PG_URL",
        hide_env_values = true,
        default_value = "postgres://tunebench:tunebench@127.0.0.1:5432/tunebench"
    )]
    pg_url: String,
    /// Schema of the documents dataset (full-text search).
    #[arg(long, env = "APP_DOCS_SCHEMA", default_value = "tunebench_docs_50k")]
    docs_schema: String,
    /// Schema of the vectors dataset (similar documents).
    #[arg(long, env = "APP_VEC_SCHEMA", default_value = "tunebench_vec20k")]
    vec_schema: String,
    /// Connections to PostgreSQL.
    #[arg(long, env = "APP_PG_CONNECTIONS", default_value_t = 8)]
    pg_connections: u32,
    #[arg(
        long,
        env = "TUNEBENCH_NEO4J_URL",
        default_value = "bolt://127.0.0.1:7687"
    )]
    neo4j_url: String,
    #[arg(long, env = "TUNEBENCH_NEO4J_USER", default_value = "neo4j")]
    neo4j_user: String,
    #[arg(
        long,
        env = "TUNEBENCH_NEO4J_PASSWORD",
        hide_env_values = true,
        default_value = "tunebench"
    )]
    neo4j_password: String,
    #[arg(
        long,
        env = "TUNEBENCH_S3_ENDPOINT",
        default_value = "http://127.0.0.1:9000"
    )]
    s3_endpoint: String,
    #[arg(
        long,
        env = "TUNEBENCH_S3_ACCESS_KEY",
        hide_env_values = true,
        default_value = "tunebench"
    )]
    s3_access_key: String,
    #[arg(
        long,
        env = "TUNEBENCH_S3_SECRET_KEY",
        hide_env_values = true,
        default_value = "tunebench-secret"
    )]
    s3_secret_key: String,
    #[arg(long, env = "TUNEBENCH_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    /// Bucket for uploads (created by the app; must start with `tunebench-`).
    #[arg(long, env = "APP_BUCKET", default_value = "tunebench-app")]
    bucket: String,
    /// Qdrant's REST URL, checked by /health; empty: Qdrant is reported as not configured.
    #[arg(long, env = "TUNEBENCH_QDRANT_REST_URL", default_value = "")]
    qdrant_rest_url: String,
    /// Time each store's health check may take.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    check_timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 500ms or 2s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        _ => Err(format!("{s:?}: expected e.g. 500ms or 2s")),
    }
}

/// An SQL identifier the app splices into statements: lower-case letters, digits, `_`.
fn identifier(what: &str, s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{what} {s:?} is not a plain identifier (a-z, 0-9, _)"
        ))
    }
}

/// `docs` and `vec` are checked identifiers (`identifier`): the only text the app splices
/// into its SQL (`AssertSqlSafe`); every value is a bound parameter.
struct App {
    pg: sqlx::PgPool,
    neo: neo4rs::Graph,
    s3: aws_sdk_s3::Client,
    http: reqwest::Client,
    docs: String,
    vec: String,
    bucket: String,
    s3_endpoint: String,
    qdrant_rest_url: String,
    check_timeout: Duration,
    /// token -> user
    tokens: RwLock<HashMap<String, String>>,
    uploads: AtomicU64,
    /// Learnt at first use (the scenario loads the data after the app starts).
    terms: OnceCell<Vec<String>>,
    items: OnceCell<i64>,
    graph_documents: OnceCell<i64>,
    bucket_ready: OnceCell<()>,
}

type Shared = Arc<App>;

/// An error answer: a status and a message (never a credential: store errors are summarised).
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        reply(self.0, json!({ "error": self.1 }))
    }
}

/// A JSON answer (axum's `Json` needs a feature that would rebuild half the tree).
fn reply(status: StatusCode, body: Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn internal(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {e}"))
}

fn s3_failure(what: &str, e: impl std::error::Error) -> Failure {
    internal(what, aws_sdk_s3::error::DisplayErrorContext(e))
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("app: {e}");
        std::process::exit(2);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let docs = identifier("--docs-schema", &args.docs_schema)?;
    let vec = identifier("--vec-schema", &args.vec_schema)?;
    if !args.bucket.starts_with("tunebench-") {
        return Err(format!(
            "--bucket {:?} must start with tunebench-",
            args.bucket
        ));
    }
    // Connections are opened lazily: the app starts before the stores are ready or loaded,
    // and /health says which one is missing.
    let pg = PgPoolOptions::new()
        .max_connections(args.pg_connections.max(1))
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&args.pg_url)
        .map_err(|_| "--pg-url is not a valid PostgreSQL URL".to_string())?;
    let neo_config = neo4rs::ConfigBuilder::new()
        .uri(args.neo4j_url.as_str())
        .user(args.neo4j_user.clone())
        .password(args.neo4j_password.clone())
        .max_connections(8)
        .build()
        .map_err(|e| format!("Neo4j settings: {e}"))?;
    let neo = neo4rs::Graph::connect(neo_config)
        .await
        .map_err(|e| format!("Neo4j at {}: {e}", args.neo4j_url))?;
    let s3_conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(args.s3_endpoint.trim_end_matches('/'))
        .region(Region::new(args.s3_region.clone()))
        .credentials_provider(Credentials::new(
            args.s3_access_key.clone(),
            args.s3_secret_key.clone(),
            None,
            None,
            "app",
        ))
        .force_path_style(true)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .build();
    let app = Arc::new(App {
        pg,
        neo,
        s3: aws_sdk_s3::Client::from_conf(s3_conf),
        http: reqwest::Client::builder()
            .timeout(args.check_timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?,
        docs,
        vec,
        bucket: args.bucket.clone(),
        s3_endpoint: args.s3_endpoint.trim_end_matches('/').to_string(),
        qdrant_rest_url: args.qdrant_rest_url.trim_end_matches('/').to_string(),
        check_timeout: args.check_timeout,
        tokens: RwLock::new(HashMap::new()),
        uploads: AtomicU64::new(0),
        terms: OnceCell::new(),
        items: OnceCell::new(),
        graph_documents: OnceCell::new(),
        bucket_ready: OnceCell::new(),
    });
    let router = axum::Router::new()
        .route("/health", get(health))
        .route("/login", post(login))
        .route("/trending", get(trending))
        .route("/search", get(search))
        .route("/similar/{id}", get(similar))
        .route("/related/{id}", get(related))
        .route("/files", post(upload))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // One line on stdout, read by whoever started the app (the tests bind port 0).
    println!("listening on http://{local}");
    // hyper-util's server (HTTP/1.1 and 2) with the router as its service: what axum::serve
    // does, without the axum feature.
    let server = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("app: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let server = server.clone();
        tokio::spawn(async move {
            let _ = server
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

// ------------------------------------------------------------------------------ health ---

/// Each store checked with a real request, concurrently, each within `check_timeout`.
async fn health(State(app): State<Shared>) -> Response {
    let (pg, neo, minio, qdrant) = tokio::join!(
        timed(&app, pg_version(&app)),
        timed(&app, neo4j_version(&app)),
        timed(&app, minio_version(&app)),
        async {
            if app.qdrant_rest_url.is_empty() {
                None
            } else {
                Some(timed(&app, qdrant_version(&app)).await)
            }
        },
    );
    let mut ok = true;
    let mut stores = serde_json::Map::new();
    for (name, result) in [
        ("postgres", Some(pg)),
        ("neo4j", Some(neo)),
        ("minio", Some(minio)),
        ("qdrant", qdrant),
    ] {
        let entry = match result {
            None => json!({ "status": "not_configured" }),
            Some((Ok(version), ms)) => json!({ "status": "ok", "version": version, "ms": ms }),
            Some((Err(e), ms)) => {
                ok = false;
                json!({ "status": "failed", "error": e, "ms": ms })
            }
        };
        stores.insert(name.into(), entry);
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    reply(
        status,
        json!({ "status": if ok { "ok" } else { "degraded" }, "stores": stores }),
    )
}

async fn timed(
    app: &App,
    check: impl std::future::Future<Output = Result<String, String>>,
) -> (Result<String, String>, f64) {
    let start = Instant::now();
    let r = match tokio::time::timeout(app.check_timeout, check).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:?}", app.check_timeout)),
    };
    (r, start.elapsed().as_secs_f64() * 1e3)
}

async fn pg_version(app: &App) -> Result<String, String> {
    let (v,): (String,) = sqlx::query_as("SELECT current_setting('server_version')")
        .fetch_one(&app.pg)
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("PostgreSQL {v}"))
}

async fn neo4j_version(app: &App) -> Result<String, String> {
    let mut rows = app
        .neo
        .execute(neo4rs::query(
            "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS v, edition",
        ))
        .await
        .map_err(|e| e.to_string())?;
    let row = rows
        .next()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("dbms.components() returned nothing")?;
    let get = |k: &str| row.get::<String>(k).unwrap_or_default();
    Ok(format!("{} {} {}", get("name"), get("v"), get("edition")))
}

/// A signed S3 request (the credentials work), then the version from MinIO's metrics.
async fn minio_version(app: &App) -> Result<String, String> {
    app.s3
        .list_buckets()
        .send()
        .await
        .map_err(|e| format!("ListBuckets: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    let text = app
        .http
        .get(format!("{}/minio/v2/metrics/node", app.s3_endpoint))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("metrics: {}", e.without_url()))?
        .text()
        .await
        .map_err(|e| format!("metrics: {}", e.without_url()))?;
    text.lines()
        .find(|l| l.starts_with("minio_software_version_info"))
        .and_then(|l| l.split("version=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .map(|v| format!("MinIO RELEASE.{v}"))
        .ok_or_else(|| "S3 answers, but its metrics carry no version".into())
}

async fn qdrant_version(app: &App) -> Result<String, String> {
    let v: Value = app
        .http
        .get(format!("{}/", app.qdrant_rest_url))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| e.without_url().to_string())?
        .json()
        .await
        .map_err(|e| e.without_url().to_string())?;
    v.get("version")
        .and_then(Value::as_str)
        .map(|v| format!("Qdrant {v}"))
        .ok_or_else(|| "no version in Qdrant's answer".into())
}

// ------------------------------------------------------------------------- the product ---

#[derive(Deserialize)]
struct Login {
    user: String,
}

async fn login(State(app): State<Shared>, body: Bytes) -> Result<Response, Failure> {
    let login: Login = serde_json::from_slice(&body).map_err(|e| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!("body: {{\"user\": \"...\"}} ({e})"),
        )
    })?;
    if login.user.is_empty() || login.user.len() > 64 {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "user: 1 to 64 characters".into(),
        ));
    }
    let token = format!("{:032x}", rand::random::<u128>());
    app.tokens
        .write()
        .await
        .insert(token.clone(), login.user.clone());
    Ok(reply(
        StatusCode::OK,
        json!({ "token": token, "user": login.user }),
    ))
}

async fn authorize(app: &App, headers: &HeaderMap) -> Result<String, Failure> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(Failure(
            StatusCode::UNAUTHORIZED,
            "log in first (POST /login)".into(),
        ))?;
    app.tokens
        .read()
        .await
        .get(token)
        .cloned()
        .ok_or(Failure(StatusCode::UNAUTHORIZED, "unknown token".into()))
}

/// Three terms from the corpus's vocabulary (the 200 most frequent lexemes of a sample of
/// documents that a search finds as written, skipping the 10 most frequent), drawn per
/// request.
async fn trending(State(app): State<Shared>, headers: HeaderMap) -> Result<Response, Failure> {
    authorize(&app, &headers).await?;
    let terms = app
        .terms
        .get_or_try_init(|| async {
            let sql = format!(
                // Lexemes are stems: keep those a search for the word itself finds (its own
                // stem), or a suggested term could find nothing.
                "SELECT word FROM ts_stat('SELECT tsv FROM {}.documents WHERE id <= 2000') \
                 WHERE websearch_to_tsquery('english', word) = to_tsquery('simple', word) \
                 ORDER BY ndoc DESC, word OFFSET 10 LIMIT 200",
                app.docs
            );
            let rows: Vec<(String,)> = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_all(&app.pg)
                .await?;
            Ok::<_, sqlx::Error>(rows.into_iter().map(|r| r.0).collect())
        })
        .await
        .map_err(|e| internal("vocabulary", e))?;
    if terms.is_empty() {
        return Err(Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "no documents loaded".into(),
        ));
    }
    let pick: Vec<&String> = (0..3)
        .map(|_| &terms[(rand::random::<u64>() % terms.len() as u64) as usize])
        .collect();
    Ok(reply(StatusCode::OK, json!({ "terms": pick })))
}

async fn search(
    State(app): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    authorize(&app, &headers).await?;
    let q = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .filter(|q| !q.trim().is_empty())
        .ok_or(Failure(StatusCode::BAD_REQUEST, "q: a search query".into()))?;
    let sql = format!(
        "SELECT d.id, d.title, ts_rank(d.tsv, q) AS rank \
         FROM {}.documents d, websearch_to_tsquery('english', $1) q \
         WHERE d.tsv @@ q ORDER BY rank DESC LIMIT 10",
        app.docs
    );
    let rows: Vec<(i64, String, f32)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(&q)
        .fetch_all(&app.pg)
        .await
        .map_err(|e| internal("search", e))?;
    let results: Vec<Value> = rows
        .into_iter()
        .map(|(id, title, rank)| json!({ "id": id, "title": title, "rank": rank }))
        .collect();
    Ok(reply(StatusCode::OK, json!({ "q": q, "results": results })))
}

async fn similar(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    authorize(&app, &headers).await?;
    let items = *app
        .items
        .get_or_try_init(|| async {
            let sql = format!("SELECT coalesce(max(id), 0) FROM {}.items", app.vec);
            let (n,): (i64,) = sqlx::query_as(AssertSqlSafe(sql))
                .fetch_one(&app.pg)
                .await?;
            Ok::<_, sqlx::Error>(n)
        })
        .await
        .map_err(|e| internal("vector count", e))?;
    if items == 0 || id < 1 {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("no vector for document {id}"),
        ));
    }
    let item = (id - 1) % items + 1;
    // pgvector's form for "neighbours of a row": the subquery is evaluated once, and an
    // HNSW index (the tuned profile) serves the ORDER BY.
    let sql = format!(
        "SELECT id, embedding <=> (SELECT embedding FROM {v}.items WHERE id = $1) AS distance \
         FROM {v}.items WHERE id <> $1 \
         ORDER BY embedding <=> (SELECT embedding FROM {v}.items WHERE id = $1) LIMIT 10",
        v = app.vec
    );
    let rows: Vec<(i64, f64)> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(item)
        .fetch_all(&app.pg)
        .await
        .map_err(|e| internal("similar", e))?;
    let results: Vec<Value> = rows
        .into_iter()
        .map(|(id, d)| json!({ "id": id, "distance": d }))
        .collect();
    Ok(reply(
        StatusCode::OK,
        json!({ "document": id, "item": item, "results": results }),
    ))
}

async fn related(
    State(app): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    authorize(&app, &headers).await?;
    let documents = *app
        .graph_documents
        .get_or_try_init(|| async {
            let mut rows = app
                .neo
                .execute(neo4rs::query(
                    "MATCH (d:TunebenchDocument) RETURN count(d) AS n",
                ))
                .await?;
            let n = match rows.next().await? {
                Some(row) => row.get::<i64>("n").unwrap_or(0),
                None => 0,
            };
            Ok::<_, neo4rs::Error>(n)
        })
        .await
        .map_err(|e| internal("graph size", e))?;
    if documents == 0 || id < 1 {
        return Err(Failure(
            StatusCode::NOT_FOUND,
            format!("no graph document for {id}"),
        ));
    }
    let doc = (id - 1) % documents;
    let mut rows = app
        .neo
        .execute(
            neo4rs::query(
                "MATCH (d:TunebenchDocument {doc_id: $doc})-[:TAGGED]->(t:TunebenchTopic)\
                 <-[:TAGGED]-(o:TunebenchDocument) WHERE o <> d \
                 WITH o, count(t) AS shared ORDER BY shared DESC, o.doc_id LIMIT 10 \
                 RETURN o.doc_id AS id, o.title AS title, shared",
            )
            .param("doc", doc),
        )
        .await
        .map_err(|e| internal("related", e))?;
    let mut results = Vec::new();
    while let Some(row) = rows.next().await.map_err(|e| internal("related", e))? {
        results.push(json!({
            "id": row.get::<i64>("id").unwrap_or_default(),
            "title": row.get::<String>("title").unwrap_or_default(),
            "shared_topics": row.get::<i64>("shared").unwrap_or_default(),
        }));
    }
    Ok(reply(
        StatusCode::OK,
        json!({ "document": id, "graph_document": doc, "results": results }),
    ))
}

/// Keys are reused (256 slots) so that a long run keeps a bounded bucket.
const UPLOAD_SLOTS: u64 = 256;
/// S3's smallest part but the last.
const PART: usize = 8 << 20;

async fn upload(
    State(app): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    let user = authorize(&app, &headers).await?;
    if body.is_empty() {
        return Err(Failure(StatusCode::BAD_REQUEST, "an empty file".into()));
    }
    app.bucket_ready
        .get_or_try_init(|| async {
            if app
                .s3
                .head_bucket()
                .bucket(&app.bucket)
                .send()
                .await
                .is_ok()
            {
                return Ok(());
            }
            app.s3
                .create_bucket()
                .bucket(&app.bucket)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
        })
        .await
        .map_err(|e| internal("creating the bucket", e))?;
    let slot = app.uploads.fetch_add(1, Ordering::Relaxed) % UPLOAD_SLOTS;
    let key = format!("uploads/{slot:03}");
    let started = app
        .s3
        .create_multipart_upload()
        .bucket(&app.bucket)
        .key(&key)
        .metadata("user", user)
        .send()
        .await
        .map_err(|e| s3_failure("CreateMultipartUpload", e))?;
    let upload_id = started.upload_id().unwrap_or_default().to_string();
    let mut parts = Vec::new();
    for (i, chunk) in body.chunks(PART).enumerate() {
        let n = i as i32 + 1;
        let part = app
            .s3
            .upload_part()
            .bucket(&app.bucket)
            .key(&key)
            .upload_id(&upload_id)
            .part_number(n)
            .body(body.slice_ref(chunk).into())
            .send()
            .await;
        match part {
            Ok(p) => parts.push(
                CompletedPart::builder()
                    .part_number(n)
                    .set_e_tag(p.e_tag)
                    .build(),
            ),
            Err(e) => {
                let _ = app
                    .s3
                    .abort_multipart_upload()
                    .bucket(&app.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                return Err(s3_failure("UploadPart", e));
            }
        }
    }
    let done = app
        .s3
        .complete_multipart_upload()
        .bucket(&app.bucket)
        .key(&key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(|e| s3_failure("CompleteMultipartUpload", e))?;
    Ok(reply(
        StatusCode::CREATED,
        json!({ "key": key, "bytes": body.len(), "parts": parts.len(), "etag": done.e_tag() }),
    ))
}
