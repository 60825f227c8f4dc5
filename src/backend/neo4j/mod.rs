//! Neo4j 5 over Bolt (neo4rs): connection, the per-worker executor, graph loading, profiles
//! (schema + memory settings) and server-side evidence.

mod bolt;
mod checks;
mod drill;
mod evidence;
mod journal;
mod load;
mod profile;
pub mod spec;
mod store;

use std::sync::Arc;
use std::time::Duration;

use neo4rs::{BoltType, ConfigBuilder, Graph as Bolt, Query, Row, query};
use rand_chacha::ChaCha8Rng;

pub use checks::{CHECK_HELP, CHECK_NAMES, NeoCheck, parse_check};
pub use evidence::{IndexUsage, NeoEvidence};
pub use profile::AppliedNeoProfile;
pub use store::NeoStore;

use crate::backend::model::Target;
use crate::dataset::{Graph, GraphParam, GraphValue};
use crate::driver::{Done, Executor, OpError};
use crate::error::{Error, Result};
use spec::NeoTarget;

pub use crate::backend::model::target_error;

/// Opens a Bolt connection pool and proves it with a query, so a wrong password or a dead
/// server fails here (exit 3) and never later. Messages carry the URL, never the password.
pub async fn connect(target: &Target, opts: &NeoTarget, max_connections: usize) -> Result<Bolt> {
    // neo4rs pulls in rustls, which panics on the first TLS connection when it cannot tell
    // which crypto provider to use: name one explicitly (an error only means one is set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::new()
        .uri(target.url.as_str())
        .user(opts.user.clone())
        .password(opts.password.clone())
        .max_connections(max_connections.max(1))
        .fetch_size(1000)
        .build()
        .map_err(|e| target_error(target, "connection settings", e))?;
    let cannot = |e: &dyn std::fmt::Display| {
        Error::target(
            format!(
                "cannot connect to target {} at {} as user {}",
                target.name, target.url_redacted, opts.user
            ),
            e,
        )
    };
    // The pool connects lazily, and Graph::run retries connection failures (a wrong password
    // too) for up to a minute: probe through a transaction, which neo4rs does not retry.
    let graph = tokio::time::timeout(target.pool_connect_timeout, async {
        let g = Bolt::connect(config).await?;
        let mut txn = g.start_txn().await?;
        txn.run(query("RETURN 1")).await?;
        txn.rollback().await?;
        Ok::<_, neo4rs::Error>(g)
    })
    .await
    .map_err(|_| {
        cannot(&format!(
            "no answer within {:?} (is Neo4j running? scripts/stack up neo4j)",
            target.pool_connect_timeout
        ))
    })?
    .map_err(|e| cannot(&e))?;
    Ok(graph)
}

/// Runs a query and collects its rows.
pub async fn rows(graph: &Bolt, q: Query) -> std::result::Result<Vec<Row>, neo4rs::Error> {
    let mut stream = graph.execute(q).await?;
    let mut out = Vec::new();
    while let Some(row) = stream.next().await? {
        out.push(row);
    }
    Ok(out)
}

pub fn bolt_value(v: &GraphValue) -> BoltType {
    match v {
        GraphValue::Int(i) => (*i).into(),
        GraphValue::Text(s) => s.as_str().into(),
    }
}

/// The Cypher of a workload's operations and how each draws its parameters.
pub struct NeoOps {
    pub cypher: Vec<Arc<str>>,
    pub params: Vec<Vec<(String, GraphParam)>>,
    pub graph: Arc<Graph>,
}

/// What every worker of a workload connects with.
pub struct NeoWorkers {
    pub target: Target,
    pub options: spec::NeoTarget,
    pub ops: Arc<NeoOps>,
}

/// One worker: its own driver with a single connection.
pub struct NeoExecutor {
    bolt: Bolt,
    ops: Arc<NeoOps>,
}

impl Executor for NeoExecutor {
    type Params = Vec<(String, GraphValue)>;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Self::Params {
        self.ops.params[op]
            .iter()
            .map(|(name, p)| (name.clone(), self.ops.graph.draw(*p, rng)))
            .collect()
    }

    async fn execute(
        &mut self,
        op: usize,
        params: &Self::Params,
    ) -> std::result::Result<Done, OpError> {
        let mut q = query(&self.ops.cypher[op]);
        for (name, v) in params {
            q = q.param(name, bolt_value(v));
        }
        // Every row is pulled: the latency covers the whole result, not the first row.
        rows(&self.bolt, q)
            .await
            .map(|_| Done::default())
            .map_err(classify)
    }
}

pub fn classify(e: neo4rs::Error) -> OpError {
    let kind = match &e {
        neo4rs::Error::Neo4j(n) => n.code().rsplit('.').next().unwrap_or("neo4j").to_string(),
        neo4rs::Error::IOError { .. } => "io".into(),
        neo4rs::Error::ConnectionError => "connection".into(),
        _ => "other".into(),
    };
    OpError {
        kind,
        message: e.to_string(),
    }
}

/// Waits up to `limit` for a freshly (re)started server to answer.
pub async fn reconnect(target: &Target, opts: &NeoTarget, limit: Duration) -> Result<Bolt> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match connect(target, opts, target.pool.max_connections as usize).await {
            Ok(g) => return Ok(g),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}
