//! Neo4j 5 over Bolt (neo4rs): connection, the per-worker executor, graph loading, profiles
//! (schema + memory settings) and server-side evidence.

mod bolt;
pub mod capture;
mod checks;
mod drill;
mod evidence;
mod journal;
mod load;
mod profile;
mod sample;
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
use crate::dataset::{Graph, GraphParam, GraphValue, Param, ParamValue};
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

/// A Cypher parameter's value: one value, or the row of a source of several columns, as a
/// map (`$row.id`, `$row.region`: the values of one row stay together).
#[derive(Debug, Clone, PartialEq)]
pub enum CypherValue {
    One(ParamValue),
    Row(Vec<(String, ParamValue)>),
}

impl From<GraphValue> for CypherValue {
    fn from(v: GraphValue) -> Self {
        CypherValue::One(match v {
            GraphValue::Int(i) => ParamValue::Int(i),
            GraphValue::Text(s) => ParamValue::Text(s),
        })
    }
}

fn bolt_one(v: &ParamValue) -> BoltType {
    match v {
        ParamValue::Int(i) => (*i).into(),
        ParamValue::Float(f) => (*f).into(),
        ParamValue::Text(s) => s.as_str().into(),
        ParamValue::Time(t) => t.fixed_offset().into(),
        ParamValue::Vector(v) => v.clone().into(),
        ParamValue::Ints(v) => v.clone().into(),
        ParamValue::Times(v) => v
            .iter()
            .map(|t| t.fixed_offset())
            .collect::<Vec<_>>()
            .into(),
    }
}

pub fn bolt_value(v: &CypherValue) -> BoltType {
    match v {
        CypherValue::One(v) => bolt_one(v),
        CypherValue::Row(row) => BoltType::Map(
            row.iter()
                .map(|(k, v)| (k.as_str().into(), bolt_one(v)))
                .collect(),
        ),
    }
}

/// Draws one value per parameter: tunebench's generators from its graph, sources from
/// their values (a multi-column source as a map). A generator without a graph (refused by
/// `validate` on a workload without dataset) draws nothing.
pub fn draw_params<'a>(
    params: impl IntoIterator<Item = (&'a String, &'a Param<GraphParam>)>,
    graph: Option<&Graph>,
    rng: &mut ChaCha8Rng,
) -> Vec<(String, CypherValue)> {
    let mut out = Vec::new();
    let mut values = Vec::new();
    for (name, p) in params {
        match p {
            Param::Gen(g) => {
                if let Some(graph) = graph {
                    out.push((name.clone(), graph.draw(*g, rng).into()));
                }
            }
            Param::Source(s) => {
                values.clear();
                s.draw(rng, &mut values);
                let names = spec::param_names(name);
                if names.len() > 1 {
                    // One row's values to several `$name`s, in order.
                    for (n, v) in names.iter().zip(values.drain(..)) {
                        out.push((n.to_string(), CypherValue::One(v)));
                    }
                    continue;
                }
                let mut columns = s.spec.columns();
                if columns.is_empty() && values.len() == 2 {
                    // A time window under one name: `$w.start`, `$w.end`.
                    columns = vec!["start", "end"];
                }
                let v = if columns.len() > 1 {
                    CypherValue::Row(
                        columns
                            .iter()
                            .map(|c| c.to_string())
                            .zip(values.drain(..))
                            .collect(),
                    )
                } else {
                    CypherValue::One(values.pop().unwrap_or(ParamValue::Int(0)))
                };
                out.push((name.clone(), v));
            }
        }
    }
    out
}

/// What a Neo4j target's workloads run on.
pub enum NeoData {
    /// tunebench's own graph (a dataset).
    Graph(Graph),
    /// Data tunebench did not create: the statements of the workloads that name no dataset,
    /// read only, with parameters from their sources.
    Foreign(Vec<ForeignCypher>),
}

/// One statement of a workload on data tunebench did not create.
pub struct ForeignCypher {
    /// `workload.op`
    pub name: String,
    pub cypher: String,
    pub params: Vec<(String, Param<GraphParam>)>,
}

impl NeoData {
    pub fn graph(&self) -> Option<&Graph> {
        match self {
            NeoData::Graph(g) => Some(g),
            NeoData::Foreign(_) => None,
        }
    }
}

/// The Cypher of a workload's operations and how each draws its parameters.
pub struct NeoOps {
    pub cypher: Vec<Arc<str>>,
    pub params: Vec<Vec<(String, Param<GraphParam>)>>,
    /// tunebench's graph, or the statements on data tunebench did not create (sources only).
    pub data: Arc<NeoData>,
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
    type Params = Vec<(String, CypherValue)>;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Self::Params {
        draw_params(
            self.ops.params[op].iter().map(|(k, p)| (k, p)),
            self.ops.data.graph(),
            rng,
        )
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
