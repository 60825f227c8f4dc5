//! `tunebench capture neo4j`: the application's Cypher turned into an ordinary workload file,
//! to replay before and after a profile on the graph already there.
//!
//! Neo4j Community keeps no history of its queries (the query log, `db.stats.retrieve` and
//! query-level metrics are Enterprise features), so there are two ways in:
//! - `--watch DURATION`: polls `SHOW TRANSACTIONS` (Community has it) while the application
//!   runs, and keeps each statement it sees running with its parameters. Like a sampling
//!   profiler, a statement is seen in proportion to the time it runs: statements are ranked
//!   by sightings (≈ their share of the server's time), weighted by their distinct executions
//!   seen; statements much faster than the poll interval are under-counted or missed.
//! - `--from-file FILE`: a plain Cypher file (statements separated by `;`), each an op whose
//!   parameters need a source (written commented out, saying which).
//!
//! Only reads are kept (the statement check of workloads on existing data).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use neo4rs::{BoltType, query};

use super::spec::{cypher_not_read_only, cypher_params};
use crate::backend::capture::{CaptureOut, toml_string};
use crate::error::{Error, Result};

/// What `capture neo4j` was asked for.
#[derive(Debug, Clone)]
pub struct CaptureArgs {
    pub url: String,
    pub user: String,
    pub password: String,
    pub out: PathBuf,
    pub top: usize,
    pub watch: Option<Duration>,
    pub from_file: Option<PathBuf>,
    /// Only statements whose text contains this (e.g. a label).
    pub matching: Option<String>,
    /// Parameter rows kept per statement.
    pub max_rows: usize,
    /// Between two polls of SHOW TRANSACTIONS.
    pub interval: Duration,
}

/// A statement as the polls saw it.
#[derive(Default)]
struct Seen {
    text: String,
    sightings: u64,
    executions: BTreeSet<String>,
    /// Parameter names in first-seen order, and one row per execution.
    names: Vec<String>,
    rows: Vec<BTreeMap<String, Cell>>,
}

#[derive(Clone, Debug)]
enum Cell {
    Int(i64),
    Float(f64),
    Text(String),
    Time(String),
    /// A value a source cannot give (a boolean, list, map, node ...): its kind.
    Other(&'static str),
}

impl Cell {
    fn of(v: &BoltType) -> Cell {
        match v {
            BoltType::Integer(i) => Cell::Int(i.value),
            BoltType::Float(f) => Cell::Float(f.value),
            BoltType::String(s) => Cell::Text(s.value.clone()),
            BoltType::DateTime(d) => match chrono::DateTime::<chrono::FixedOffset>::try_from(d) {
                Ok(t) => Cell::Time(t.to_rfc3339()),
                Err(_) => Cell::Other("datetime"),
            },
            BoltType::Boolean(_) => Cell::Other("boolean"),
            BoltType::Null(_) => Cell::Other("null"),
            BoltType::List(_) => Cell::Other("list"),
            BoltType::Map(_) => Cell::Other("map"),
            _ => Cell::Other("value of another type"),
        }
    }

    fn kind(&self) -> Option<&'static str> {
        match self {
            Cell::Int(_) => Some("int"),
            Cell::Float(_) => Some("float"),
            Cell::Text(_) => Some("text"),
            Cell::Time(_) => Some("timestamptz"),
            Cell::Other(_) => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => f.to_string(),
            Cell::Text(s) | Cell::Time(s) => s.clone(),
            Cell::Other(k) => k.to_string(),
        }
    }
}

pub async fn capture(a: &CaptureArgs) -> Result<crate::Outcome> {
    crate::secrets::register(&a.password);
    if a.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    if a.watch.is_some() == a.from_file.is_some() {
        return Err(Error::Usage(
            "capture neo4j takes one of --watch DURATION (poll SHOW TRANSACTIONS while the application runs) or --from-file FILE (a Cypher file)".into(),
        ));
    }
    // Refused before a watch, not after it.
    let file = CaptureOut::new(&a.out)?;
    let (seen, left_out, how) = match (&a.from_file, a.watch) {
        (Some(f), _) => from_file(f, a)?,
        (None, Some(d)) => watch(a, d).await?,
        (None, None) => unreachable_usage()?,
    };
    write(a, file, seen, left_out, &how)
}

fn unreachable_usage() -> Result<(Vec<Seen>, usize, String)> {
    Err(Error::Usage(
        "capture neo4j needs --watch or --from-file".into(),
    ))
}

fn keep(a: &CaptureArgs, text: &str, left_out: &mut usize) -> bool {
    if a.matching
        .as_ref()
        .is_some_and(|m| !text.contains(m.as_str()))
    {
        return false;
    }
    if cypher_not_read_only(text).is_some() {
        *left_out += 1;
        return false;
    }
    true
}

/// The statements of a Cypher file, separated by `;` (outside strings and comments).
fn from_file(path: &Path, a: &CaptureArgs) -> Result<(Vec<Seen>, usize, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    let mut left_out = 0;
    for statement in split_statements(&text) {
        if !keep(a, &statement, &mut left_out) {
            continue;
        }
        out.push(Seen {
            names: cypher_params(&statement).into_iter().collect(),
            text: statement,
            sightings: 1,
            ..Seen::default()
        });
        if out.len() == a.top {
            break;
        }
    }
    let how = format!("from the Cypher file {}", path.display());
    Ok((out, left_out, how))
}

fn split_statements(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' | '"' | '`' => {
                current.push(c);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        current.push(chars[i]);
                        i += 1;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    current.push(chars[i]);
                }
                i += 1;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    i += 1;
                }
                i += 2;
            }
            ';' => {
                out.push(std::mem::take(&mut current));
                i += 1;
            }
            _ => {
                current.push(c);
                i += 1;
            }
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Polls SHOW TRANSACTIONS for `d`: each statement seen running, how often, its distinct
/// executions and their parameters.
async fn watch(a: &CaptureArgs, d: Duration) -> Result<(Vec<Seen>, usize, String)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::target(format!("capture neo4j at {} ({what})", a.url), e)
    };
    let config = neo4rs::ConfigBuilder::new()
        .uri(a.url.as_str())
        .user(a.user.clone())
        .password(a.password.clone())
        .max_connections(1)
        .build()
        .map_err(|e| fail("connection settings", &e))?;
    let g = neo4rs::Graph::connect(config)
        .await
        .map_err(|e| fail("connecting", &e))?;
    let poll = "SHOW TRANSACTIONS YIELD transactionId, currentQueryId, currentQuery, parameters \
                WHERE currentQuery <> '' AND NOT currentQuery STARTS WITH 'SHOW TRANSACTIONS' \
                RETURN currentQueryId, currentQuery, parameters";
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut polls = 0u64;
    let started = Instant::now();
    while started.elapsed() < d {
        let tick = Instant::now();
        let mut stream = g
            .execute(query(poll))
            .await
            .map_err(|e| fail("SHOW TRANSACTIONS", &e))?;
        while let Some(row) = stream
            .next()
            .await
            .map_err(|e| fail("SHOW TRANSACTIONS", &e))?
        {
            let text: String = row.get("currentQuery").unwrap_or_default();
            let id: String = row.get("currentQueryId").unwrap_or_default();
            let key = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let s = seen.entry(key.clone()).or_insert_with(|| Seen {
                text: key,
                ..Seen::default()
            });
            s.sightings += 1;
            if s.executions.insert(id) && s.rows.len() < a.max_rows {
                let params: BTreeMap<String, BoltType> = match row.get::<BoltType>("parameters") {
                    Ok(BoltType::Map(m)) => {
                        m.value.into_iter().map(|(k, v)| (k.value, v)).collect()
                    }
                    _ => BTreeMap::new(),
                };
                for k in params.keys() {
                    if !s.names.contains(k) {
                        s.names.push(k.clone());
                    }
                }
                s.rows.push(
                    params
                        .iter()
                        .map(|(k, v)| (k.clone(), Cell::of(v)))
                        .collect(),
                );
            }
        }
        polls += 1;
        if let Some(rest) = a.interval.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let mut left_out = 0;
    let mut kept: Vec<Seen> = seen
        .into_values()
        .filter(|s| keep(a, &s.text, &mut left_out))
        .collect();
    kept.sort_by(|x, y| y.sightings.cmp(&x.sightings).then(x.text.cmp(&y.text)));
    kept.truncate(a.top);
    let how = format!(
        "by polling SHOW TRANSACTIONS every {} ms for {:.0} s ({polls} polls)",
        a.interval.as_millis(),
        d.as_secs_f64()
    );
    Ok((kept, left_out, how))
}

fn write(
    a: &CaptureArgs,
    mut file: CaptureOut,
    seen: Vec<Seen>,
    left_out: usize,
    how: &str,
) -> Result<crate::Outcome> {
    if seen.is_empty() {
        return Err(Error::Usage(format!(
            "no read statement was captured {how}{}{}: run the application's load meanwhile (or give a longer --watch)",
            a.matching
                .as_ref()
                .map(|m| format!(" containing `{m}`"))
                .unwrap_or_default(),
            if left_out > 0 {
                format!(" ({left_out} statements that write were left out)")
            } else {
                String::new()
            }
        )));
    }
    let now = chrono::Utc::now();
    let executions: usize = seen.iter().map(|s| s.executions.len().max(1)).sum();
    let sightings: u64 = seen.iter().map(|s| s.sightings).sum::<u64>().max(1);
    let mut text = format!(
        "# Captured by `tunebench capture neo4j` {how}\n\
         # on {}: {} read statements{}.\n\
         # Neo4j Community keeps no query history (query log and query statistics are Enterprise),\n\
         # so a watch sees what runs while it polls: ranked by sightings (about their share of\n\
         # the server's time), weighted by their executions seen; fast statements are under-counted.\n\
         # Replay it on the same graph with a workload that names no dataset (docs/parameters.md).\n\
         store = \"neo4j\"\n\
         description = \"{} statements captured from SHOW TRANSACTIONS on {} ({} calls)\"\n",
        now.format("%Y-%m-%d %H:%M UTC"),
        seen.len(),
        a.matching
            .as_ref()
            .map(|m| format!(" containing `{m}`"))
            .unwrap_or_default(),
        seen.len(),
        now.format("%Y-%m-%d"),
        executions,
    );
    if a.from_file.is_some() {
        text = text.replace(
            "captured from SHOW TRANSACTIONS",
            "captured from a Cypher file",
        );
    }
    file.text = text;
    for (i, s) in seen.iter().enumerate() {
        let name = format!("q{:02}", i + 1);
        let used: Vec<String> = cypher_params(&s.text).into_iter().collect();
        let weight = if a.from_file.is_some() {
            1
        } else {
            ((s.executions.len().max(1) as f64 / executions as f64) * 100.0)
                .round()
                .max(1.0) as u32
        };
        let mut op = if a.from_file.is_some() {
            "\n".to_string()
        } else {
            format!(
                "\n# seen running in {} polls ({:.1} % of sightings), {} executions; weight {weight}\n",
                s.sightings,
                s.sightings as f64 * 100.0 / sightings as f64,
                s.executions.len()
            )
        };
        // Rows with every parameter the statement uses, each of a kind a source gives.
        let rows: Vec<&BTreeMap<String, Cell>> = s
            .rows
            .iter()
            .filter(|r| {
                used.iter()
                    .all(|n| r.get(n).is_some_and(|c| c.kind().is_some()))
            })
            .collect();
        let unusable = used.iter().find_map(|n| {
            s.rows.iter().find_map(|r| match r.get(n) {
                Some(Cell::Other(k)) => Some(format!(
                    "${n} was a {k}, which a source cannot give yet (integers, floats, strings, datetimes can)"
                )),
                _ => None,
            })
        });
        let problem = if used.is_empty() {
            None
        } else if rows.is_empty() {
            Some(unusable.unwrap_or_else(|| {
                format!(
                    "needs a source for {}: {} (declare one: docs/parameters.md)",
                    used.iter()
                        .map(|n| format!("${n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if a.from_file.is_some() {
                        "a Cypher file holds no values"
                    } else {
                        "no execution with usable values was seen"
                    }
                )
            }))
        } else {
            unusable
        };
        if let Some(p) = &problem {
            op.push_str(&format!("# {p}\n"));
        }
        let mut body = format!("[ops.{name}]\ncypher = {}\n", toml_string(&s.text));
        let commented = !used.is_empty() && rows.is_empty();
        if !used.is_empty() && !rows.is_empty() {
            let path = file.params(
                &name,
                &used,
                rows.iter()
                    .map(|r| used.iter().map(|n| r[n].text()).collect()),
            )?;
            // Each column's kind as seen (all rows agree, or it is text).
            let types: Vec<String> = used
                .iter()
                .map(|n| {
                    let kinds: BTreeSet<&str> = rows.iter().filter_map(|r| r[n].kind()).collect();
                    let kind = match kinds.len() {
                        1 => kinds.into_iter().next().unwrap_or("text"),
                        _ if kinds.iter().all(|k| *k == "int" || *k == "float") => "float",
                        _ => "text",
                    };
                    format!("{} = \"{kind}\"", toml_key(n))
                })
                .collect();
            let columns = used
                .iter()
                .map(|n| toml_string(n))
                .collect::<Vec<_>>()
                .join(", ");
            body.push_str(&format!(
                "params = {{ {} = {{ from = \"file\", path = \"{path}\", columns = [{columns}], types = {{ {} }} }} }}\n",
                toml_string(&used.join(",")),
                types.join(", ")
            ));
        }
        file.op(name, weight, &op, &body, commented);
    }
    let mut summary = file.finish(
        "neo",
        "graph",
        &format!("captured {} statements {how}", seen.len()),
    )?;
    if left_out > 0 {
        summary.push_str(&format!(
            "\n{left_out} statements that write were left out (replay runs reads only)"
        ));
    }
    Ok(crate::Outcome {
        exit_code: 0,
        results_path: None,
        report_path: None,
        summary,
    })
}

/// A TOML key: bare when it can be.
fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml_string(k)
    }
}

#[cfg(test)]
#[test]
fn a_cypher_file_splits_outside_strings_and_comments() {
    let got = split_statements(
        "MATCH (n {name: 'a;b'}) RETURN n;\n// a comment; still one\nMATCH (m)\n  RETURN m /* ; */;\n\n",
    );
    assert_eq!(
        got,
        ["MATCH (n {name: 'a;b'}) RETURN n", "MATCH (m) RETURN m"]
    );
}
