//! `tunebench capture postgres`: what PostgreSQL already records about its costliest
//! statements (pg_stat_statements, ranked by total time) turned into an ordinary workload
//! file, to replay before and after a profile on the data already there. Real parameter
//! values come from the server's log (`log_min_duration_statement` lines with their
//! `Parameters:` detail; stderr, csvlog or jsonlog) and go to a CSV beside the workload; a
//! statement with parameters but no captured values is written commented out, saying what
//! it needs. Only reads are kept (the statement check of workloads on existing data).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row, TypeInfo};

use crate::backend::capture::{CaptureOut, toml_string};
use crate::error::{Error, Result};

/// What `capture postgres` was asked for.
#[derive(Debug, Clone)]
pub struct CaptureArgs {
    pub url: String,
    pub out: PathBuf,
    pub top: usize,
    pub log: Option<PathBuf>,
    /// Only statements whose text contains this (e.g. a schema name).
    pub matching: Option<String>,
    pub min_calls: i64,
    /// Parameter rows kept per statement.
    pub max_rows: usize,
    /// Only log lines from this time on.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// `--since`: an RFC 3339 time, `YYYY-MM-DD HH:MM:SS` (UTC), or a duration back from now
/// (`1h`, `2d`).
pub fn parse_since(text: &str) -> std::result::Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Ok(t.and_utc());
    }
    match crate::source::duration(text) {
        Ok(d) => Ok(chrono::Utc::now() - d),
        Err(_) => Err(format!(
            "`{text}` is neither a time (2026-12-01T00:00:00Z, \"2026-12-01 00:00:00\") nor a duration back from now (1h, 2d)"
        )),
    }
}

/// The time at the start of a log line or field, as `log_line_prefix = '%m ...'` (the
/// default) and csvlog / jsonlog write it: `2026-12-04 10:00:00.000 UTC`. Zones other than
/// UTC/GMT or a numeric offset are not read.
fn log_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let mut w = s.split_whitespace();
    let (date, time, zone) = (w.next()?, w.next()?, w.next()?);
    let naive =
        chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M:%S%.f")
            .ok()?;
    match zone {
        "UTC" | "GMT" => Some(naive.and_utc()),
        z if z.starts_with(['+', '-']) => {
            let z = if z.len() == 3 {
                format!("{z}00")
            } else {
                z.replace(':', "")
            };
            chrono::DateTime::parse_from_str(
                &format!("{date} {time} {z}"),
                "%Y-%m-%d %H:%M:%S%.f %z",
            )
            .ok()
            .map(|t| t.to_utc())
        }
        _ => None,
    }
}

/// A statement as pg_stat_statements ranks it.
#[derive(Debug, Clone)]
struct Ranked {
    queryid: i64,
    query: String,
    calls: i64,
    total_ms: f64,
}

pub async fn capture(a: &CaptureArgs) -> Result<crate::Outcome> {
    for s in crate::secrets::url_secrets(&a.url) {
        crate::secrets::register(&s);
    }
    let shown = crate::secrets::redact_url(&a.url);
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::target(format!("capture postgres at {shown} ({what})"), e)
    };
    if a.top == 0 {
        return Err(Error::Usage("--top must be at least 1".into()));
    }
    let mut file = CaptureOut::new(&a.out)?;
    let url = crate::secrets::strip_secret_params(&a.url, crate::secrets::PG_SECRET_PARAMS);
    let opts = PgConnectOptions::from_str(&url)
        .map_err(|e| {
            Error::Usage(format!(
                "--url {shown}: {}",
                crate::secrets::scrub(&e.to_string())
            ))
        })?
        .application_name("tunebench capture");
    let mut conn = PgConnection::connect_with(&opts)
        .await
        .map_err(|e| fail("connecting", &e))?;
    let installed: bool =
        sqlx::query_scalar("SELECT to_regclass('pg_stat_statements') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| fail("looking for pg_stat_statements", &e))?;
    if !installed {
        return Err(fail(
            "pg_stat_statements",
            &"the extension is not installed in this database: add pg_stat_statements to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements",
        ));
    }
    let rows = sqlx::query(
        "SELECT s.queryid, s.query, s.calls, s.total_exec_time FROM pg_stat_statements s \
         JOIN pg_database d ON d.oid = s.dbid \
         WHERE d.datname = current_database() AND s.calls >= $1 AND s.queryid IS NOT NULL \
         ORDER BY s.total_exec_time DESC",
    )
    .bind(a.min_calls)
    .fetch_all(&mut conn)
    .await
    .map_err(|e| fail("reading pg_stat_statements", &e))?;
    let mut left_out = 0usize;
    let mut ranked = Vec::new();
    for r in rows {
        let query: String = r.try_get("query").unwrap_or_default();
        if a.matching
            .as_ref()
            .is_some_and(|m| !query.contains(m.as_str()))
        {
            continue;
        }
        // tunebench's own bookkeeping and the statistics views themselves are not the
        // application's work.
        if query.contains("pg_stat_statements") || query.contains("tunebench_journal") {
            continue;
        }
        if super::spec::not_read_only(&query).is_some() {
            left_out += 1;
            continue;
        }
        ranked.push(Ranked {
            queryid: r.try_get("queryid").unwrap_or_default(),
            query,
            calls: r.try_get("calls").unwrap_or_default(),
            total_ms: r.try_get("total_exec_time").unwrap_or_default(),
        });
        if ranked.len() == a.top {
            break;
        }
    }
    if ranked.is_empty() {
        return Err(Error::Usage(format!(
            "pg_stat_statements at {shown} holds no read statement{}{}: run the application's load first (or lower --min-calls)",
            a.matching
                .as_ref()
                .map(|m| format!(" containing `{m}`"))
                .unwrap_or_default(),
            if left_out > 0 {
                format!(" ({left_out} statements that write or lock were left out)")
            } else {
                String::new()
            }
        )));
    }
    let logged = match &a.log {
        Some(p) => read_log(p, a.since)?,
        None => Vec::new(),
    };
    // pg_stat_statements counts since its last reset, whatever --since says.
    let reset: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT stats_reset FROM pg_stat_statements_info")
            .fetch_optional(&mut conn)
            .await
            .ok()
            .flatten();
    let window_note = match (a.since, reset) {
        (Some(since), Some(reset)) if reset < since => format!(
            "# Parameter values are from log lines since {}; the ranking and weights are\n\
             # pg_stat_statements' counts since its last reset, {} (call\n\
             # pg_stat_statements_reset() when the window starts to rank by it alone).\n",
            since.format("%Y-%m-%d %H:%M:%S UTC"),
            reset.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (Some(since), _) => format!(
            "# Parameter values are from log lines since {}.\n",
            since.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (None, Some(reset)) => format!(
            "# pg_stat_statements counts since {}.\n",
            reset.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        (None, None) => String::new(),
    };
    let total_calls: i64 = ranked.iter().map(|r| r.calls).sum::<i64>().max(1);
    let now = chrono::Utc::now();
    file.text = format!(
        "# Captured by `tunebench capture postgres` from {shown}\n\
         # on {}: the {} costliest read statements by total time in pg_stat_statements{},\n\
         # weighted by their share of calls.\n\
         {window_note}\
         # Replay it on the same data with a workload that names no dataset (docs/parameters.md).\n\
         store = \"postgres\"\n\
         description = \"{} statements captured from pg_stat_statements on {} ({} calls)\"\n",
        now.format("%Y-%m-%d %H:%M UTC"),
        ranked.len(),
        a.matching
            .as_ref()
            .map(|m| format!(" containing `{m}`"))
            .unwrap_or_default(),
        ranked.len(),
        now.format("%Y-%m-%d"),
        ranked.iter().map(|r| r.calls).sum::<i64>(),
    );
    for (i, r) in ranked.iter().enumerate() {
        let name = format!("q{:02}", i + 1);
        let n = super::spec::count_placeholders(&r.query);
        let weight = ((r.calls as f64 / total_calls as f64) * 100.0)
            .round()
            .max(1.0) as u32;
        let mut op = format!(
            "\n# queryid {}: {} calls, {:.1} ms in total, {:.3} ms per call; weight {weight}\n",
            r.queryid,
            r.calls,
            r.total_ms,
            r.total_ms / r.calls.max(1) as f64
        );
        let values: Vec<&Vec<Option<String>>> = if n == 0 {
            Vec::new()
        } else {
            let key = normalise(&r.query);
            logged
                .iter()
                .filter(|l| l.0 == key && l.1.len() == n)
                .map(|l| &l.1)
                .take(a.max_rows)
                .collect()
        };
        let types = if n > 0 {
            param_types(&mut conn, &r.query).await
        } else {
            Ok(Vec::new())
        };
        let problem = match (&types, n, values.is_empty()) {
            (_, 0, _) => None,
            (_, _, true) => Some(format!(
                "needs a source for ${}{}: the log{} holds no values for it (set log_min_duration_statement and pass --log, or declare sources by hand: docs/parameters.md)",
                if n > 1 { "1..$" } else { "" },
                n,
                if a.log.is_some() { "" } else { " was not read (no --log), so it" },
            )),
            (Err(e), _, _) => Some(format!("its parameter types could not be read ({e})")),
            (Ok(t), _, _) => t.iter().enumerate().find_map(|(j, ty)| {
                kind_of(ty).is_none().then(|| {
                    format!("parameter ${} is {ty}, which a source cannot bind yet (integers, float4/float8, numeric, text types and timestamptz can): cast it in the SQL, e.g. ${}::text::{}, and bind text", j + 1, j + 1, ty.to_lowercase())
                })
            }),
        };
        let nulls = values.iter().any(|row| row.iter().any(Option::is_none));
        let problem = problem.or_else(|| {
            nulls.then(|| "a logged value is NULL, which a source cannot draw: rows with NULLs were left out".to_string())
        });
        let values: Vec<Vec<String>> = values
            .into_iter()
            .filter(|row| row.iter().all(Option::is_some))
            .map(|row| row.iter().map(|v| v.clone().unwrap_or_default()).collect())
            .collect();
        let commented =
            n > 0 && (values.is_empty() || problem.as_ref().is_some_and(|p| !p.contains("NULL")));
        if let Some(p) = &problem {
            op.push_str(&format!("# {p}\n"));
        }
        let mut body = format!("[ops.{name}]\nsql = {}\n", toml_string(&r.query));
        if n > 0 && !commented {
            let header: Vec<String> = (1..=n).map(|j| format!("p{j}")).collect();
            let path = file.params(&name, &header, values)?;
            let types: Vec<String> = types
                .as_ref()
                .map(|t| {
                    t.iter()
                        .enumerate()
                        .filter_map(|(j, ty)| Some(format!("p{} = \"{}\"", j + 1, kind_of(ty)?)))
                        .collect()
                })
                .unwrap_or_default();
            body.push_str(&format!(
                "params = [{{ from = \"file\", path = \"{path}\", columns = [{}], types = {{ {} }} }}]\n",
                header.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", "),
                types.join(", ")
            ));
        }
        file.op(name, weight, &op, &body, commented);
    }
    let mut summary = file.finish(
        "pg",
        "data",
        &format!("captured {} statements", ranked.len()),
    )?;
    let _ = conn.close().await;
    if left_out > 0 {
        summary.push_str(&format!(
            "\n{left_out} statements that write or lock rows were left out (replay runs reads only, unless an op says writes = true and its target allow_writes = true)"
        ));
    }
    Ok(crate::Outcome {
        exit_code: 0,
        results_path: None,
        report_path: None,
        summary,
    })
}

/// The server's types for a statement's parameters (PREPARE, nothing executed).
async fn param_types(
    conn: &mut PgConnection,
    sql: &str,
) -> std::result::Result<Vec<String>, String> {
    use sqlx::{SqlSafeStr, Statement};
    let st = conn
        .prepare(AssertSqlSafe(sql.to_string()).into_sql_str())
        .await
        .map_err(|e| crate::secrets::scrub(&e.to_string()))?;
    match st.parameters() {
        Some(sqlx::Either::Left(types)) => Ok(types.iter().map(|t| t.name().to_string()).collect()),
        _ => Err("the server did not describe them".into()),
    }
}

/// How a source binds a server type, if it can.
fn kind_of(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "INT2" | "INT4" | "INT8" | "OID" => "int",
        "FLOAT4" | "FLOAT8" | "NUMERIC" => "float",
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CITEXT" => "text",
        "TIMESTAMPTZ" => "timestamptz",
        _ => return None,
    })
}

/// Whitespace collapsed, so a statement matches its logged form.
fn normalise(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// (statement, its parameter values in order, None for NULL) for every logged execution.
type Logged = Vec<(String, Vec<Option<String>>)>;

/// Reads a PostgreSQL log: `.csv` as csvlog, `.json` as jsonlog, anything else as stderr.
fn read_log(path: &Path, since: Option<chrono::DateTime<chrono::Utc>>) -> Result<Logged> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    // (message, detail) pairs, in order; with --since, only those of lines from then on (a
    // line without a readable time is an error: the window could not be honoured).
    let mut entries: Vec<(String, Option<String>)> = Vec::new();
    let mut undated = 0usize;
    let mut keep = |stamp: &str| match (since, log_time(stamp)) {
        (None, _) => true,
        (Some(s), Some(t)) => t >= s,
        (Some(_), None) => {
            undated += 1;
            false
        }
    };
    match ext.as_str() {
        "csv" => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&bytes[..]);
            for rec in r.records() {
                let rec = rec.map_err(|e| {
                    Error::Usage(format!("--log {}: not a csvlog file: {e}", path.display()))
                })?;
                // csvlog: the time is the 1st column, message the 14th, detail the 15th.
                if let Some(m) = rec.get(13)
                    && keep(rec.get(0).unwrap_or(""))
                {
                    entries.push((
                        m.to_string(),
                        rec.get(14).filter(|d| !d.is_empty()).map(String::from),
                    ));
                }
            }
        }
        "json" => {
            for (i, line) in String::from_utf8_lossy(&bytes).lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                    Error::Usage(format!(
                        "--log {} line {}: not a jsonlog line: {e}",
                        path.display(),
                        i + 1
                    ))
                })?;
                if let Some(m) = v["message"].as_str()
                    && keep(v["timestamp"].as_str().unwrap_or(""))
                {
                    entries.push((m.to_string(), v["detail"].as_str().map(String::from)));
                }
            }
        }
        _ => {
            // stderr: "... LOG:  duration: 0.1 ms  execute S_1: SELECT ...", continuation
            // lines start with a tab, then "... DETAIL:  Parameters: $1 = '42'".
            let text = String::from_utf8_lossy(&bytes);
            // Whether the last LOG line was kept: its DETAIL and continuations follow it.
            let mut kept = true;
            for line in text.lines() {
                if !kept && (line.starts_with('\t') || line.contains("DETAIL:  ")) {
                    continue;
                }
                if let Some(cont) = line.strip_prefix('\t') {
                    if let Some(last) = entries.last_mut() {
                        match &mut last.1 {
                            Some(d) => {
                                d.push('\n');
                                d.push_str(cont);
                            }
                            None => {
                                last.0.push('\n');
                                last.0.push_str(cont);
                            }
                        }
                    }
                } else if let Some(at) = line.find("DETAIL:  ") {
                    if let Some(last) = entries.last_mut() {
                        last.1 = Some(line[at + 9..].to_string());
                    }
                } else if let Some(at) = line.find("LOG:  ") {
                    kept = keep(&line[..at]);
                    if kept {
                        entries.push((line[at + 6..].to_string(), None));
                    }
                }
            }
        }
    }
    if undated > 0 {
        return Err(Error::Usage(format!(
            "--log {}: --since needs a time at the start of every line (log_line_prefix = '%m [%p] ', the default, or csvlog / jsonlog); {undated} lines have none this tunebench reads (zones: UTC, GMT or a numeric offset)",
            path.display()
        )));
    }
    let mut out = Vec::new();
    for (message, detail) in entries {
        // A statement sent with the simple protocol carries its values as literals.
        if let Some((text, values)) = simple(&message).and_then(literals) {
            out.push((normalise(&text), values));
            continue;
        }
        let Some(stmt) = executed(&message) else {
            continue;
        };
        let Some(values) = detail.as_deref().and_then(parameters) else {
            continue;
        };
        out.push((normalise(stmt), values));
    }
    Ok(out)
}

/// The statement of a `statement: SQL` message (the simple protocol), as
/// `log_min_duration_statement` writes it (`duration: 0.1 ms  statement: ...`) or
/// `log_statement = 'all'` does.
fn simple(message: &str) -> Option<&str> {
    let rest = match message.strip_prefix("duration: ") {
        Some(r) => &r[r.find("  ")? + 2..],
        None => message,
    };
    rest.strip_prefix("statement: ")
}

/// A statement's constants replaced by `$1..$n` in order, as pg_stat_statements normalises
/// it, and their values: integers, decimals and plain single-quoted strings (`''` inside).
/// None when it cannot be told the same way (it has `$n` already, an `E''` or dollar-quoted
/// string, or more than one statement): such a statement gets no values.
fn literals(sql: &str) -> Option<(String, Vec<Option<String>>)> {
    let c: Vec<char> = sql.trim().trim_end_matches(';').chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut values = Vec::new();
    let mut i = 0;
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_' || ch == '$';
    while i < c.len() {
        let ch = c[i];
        let prev = if i > 0 { Some(c[i - 1]) } else { None };
        match ch {
            '-' if c.get(i + 1) == Some(&'-') => {
                while i < c.len() && c[i] != '\n' {
                    out.push(c[i]);
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                while i < c.len()
                    && !(c[i] == '/' && i > 0 && c[i - 1] == '*' && out.ends_with('*'))
                {
                    out.push(c[i]);
                    i += 1;
                }
                if i < c.len() {
                    out.push(c[i]);
                    i += 1;
                }
            }
            '"' => {
                out.push(ch);
                i += 1;
                while i < c.len() {
                    out.push(c[i]);
                    i += 1;
                    if c[i - 1] == '"' {
                        break;
                    }
                }
            }
            ';' => return None,
            '$' if c
                .get(i + 1)
                .is_some_and(|d| d.is_ascii_digit() || *d == '$' || d.is_alphabetic()) =>
            {
                return None;
            }
            '\'' => {
                if prev.is_some_and(|p| {
                    p == 'E' || p == 'e' || p == 'U' || p == '&' || p == 'B' || p == 'X'
                }) && i >= 1
                    && (i == 1 || !ident(c[i - 2]))
                {
                    return None;
                }
                let mut v = String::new();
                i += 1;
                loop {
                    match c.get(i) {
                        None => return None,
                        Some('\'') if c.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(x) => {
                            v.push(*x);
                            i += 1;
                        }
                    }
                }
                values.push(Some(v));
                out.push_str(&format!("${}", values.len()));
            }
            d if d.is_ascii_digit() && !prev.is_some_and(ident) && prev != Some('.') => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                    i += 1;
                }
                if i < c.len() && (c[i] == 'e' || c[i] == 'E') {
                    i += 1;
                    if i < c.len() && (c[i] == '+' || c[i] == '-') {
                        i += 1;
                    }
                    while i < c.len() && c[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                if i < c.len() && ident(c[i]) {
                    // `1abc` is not a number.
                    return None;
                }
                values.push(Some(c[start..i].iter().collect()));
                out.push_str(&format!("${}", values.len()));
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Some((out, values))
}

/// The statement of an `execute NAME: SQL` message, as `log_min_duration_statement` writes
/// it (`duration: 0.1 ms  execute ...`) or `log_statement = 'all'` does (`execute ...`).
fn executed(message: &str) -> Option<&str> {
    let rest = match message.strip_prefix("duration: ") {
        Some(r) => &r[r.find("  ")? + 2..],
        None => message,
    };
    let rest = rest.strip_prefix("execute ")?;
    let colon = rest.find(": ")?;
    Some(&rest[colon + 2..])
}

/// `Parameters: $1 = '42', $2 = NULL` as values in order; None when it is not that.
fn parameters(detail: &str) -> Option<Vec<Option<String>>> {
    let mut s = detail.trim().strip_prefix("Parameters: ")?;
    let mut values = BTreeMap::new();
    loop {
        let rest = s.strip_prefix('$')?;
        let eq = rest.find(" = ")?;
        let n: usize = rest[..eq].parse().ok()?;
        let mut rest = &rest[eq + 3..];
        let value = if let Some(r) = rest.strip_prefix("NULL") {
            rest = r;
            None
        } else {
            let r = rest.strip_prefix('\'')?;
            let mut v = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                if c == '\'' {
                    if r[i + 1..].starts_with('\'') {
                        v.push('\'');
                        chars.next();
                        continue;
                    }
                    break i + 1;
                }
                v.push(c);
            };
            rest = &r[end..];
            Some(v)
        };
        values.insert(n, value);
        match rest.strip_prefix(", ") {
            Some(r) => s = r,
            None => break,
        }
    }
    // $1..$n, each once.
    (values.keys().copied().eq(1..=values.len())).then(|| values.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_give_statements_and_their_values() {
        assert_eq!(
            executed("duration: 0.120 ms  execute S_3: SELECT * FROM t WHERE id = $1"),
            Some("SELECT * FROM t WHERE id = $1")
        );
        assert_eq!(executed("duration: 0.120 ms  statement: SELECT 1"), None);
        assert_eq!(
            executed("execute <unnamed>: SELECT 1 WHERE $1"),
            Some("SELECT 1 WHERE $1")
        );
        assert_eq!(executed("checkpoint starting: time"), None);
        assert_eq!(
            simple("duration: 0.120 ms  statement: SELECT 1"),
            Some("SELECT 1")
        );
        let (text, values) = literals(
            "SELECT id FROM t1 WHERE a = 42 AND b = 'it''s' AND c > 1.5e3 AND \"x1\" = 'y' -- 7\n LIMIT 20;",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT id FROM t1 WHERE a = $1 AND b = $2 AND c > $3 AND \"x1\" = $4 -- 7\n LIMIT $5"
        );
        let values: Vec<String> = values.into_iter().flatten().collect();
        assert_eq!(values, ["42", "it's", "1.5e3", "y", "20"]);
        for refused in [
            "SELECT $1",
            "SELECT E'a\\n'",
            "SELECT 1; SELECT 2",
            "SELECT $q$a$q$",
        ] {
            assert_eq!(literals(refused), None, "{refused}");
        }
        assert_eq!(
            parameters("Parameters: $1 = '42', $2 = 'it''s, here', $3 = NULL"),
            Some(vec![Some("42".into()), Some("it's, here".into()), None])
        );
        assert_eq!(parameters("Parameters: $2 = '1'"), None);
        assert_eq!(parameters("some other detail"), None);
    }

    #[test]
    fn a_stderr_log_with_continuation_lines_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("postgres.log");
        std::fs::write(
            &p,
            "2026-12-04 10:00:00.000 UTC [1] LOG:  duration: 0.5 ms  execute <unnamed>: SELECT a\n\
             \tFROM t WHERE b = $1\n\
             2026-12-04 10:00:00.000 UTC [1] DETAIL:  Parameters: $1 = 'x'\n\
             2026-12-04 10:00:01.000 UTC [1] LOG:  checkpoint starting: time\n",
        )
        .unwrap();
        let logged = read_log(&p, None).unwrap();
        assert_eq!(
            logged,
            vec![(
                "SELECT a FROM t WHERE b = $1".to_string(),
                vec![Some("x".to_string())]
            )]
        );
    }

    #[test]
    fn since_keeps_later_lines_and_their_details_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("postgres.log");
        std::fs::write(
            &p,
            "2026-12-04 09:59:59.000 UTC [1] LOG:  duration: 0.5 ms  execute <unnamed>: SELECT a FROM t WHERE b = $1\n\
             2026-12-04 09:59:59.000 UTC [1] DETAIL:  Parameters: $1 = 'old'\n\
             2026-12-04 10:59:59.5 +01 [1] LOG:  duration: 0.5 ms  execute <unnamed>: SELECT a FROM t WHERE b = $1\n\
             2026-12-04 10:59:59.5 +01 [1] DETAIL:  Parameters: $1 = 'also old'\n\
             2026-12-04 10:00:01.000 UTC [1] LOG:  duration: 0.5 ms  execute <unnamed>: SELECT a FROM t WHERE b = $1\n\
             2026-12-04 10:00:01.000 UTC [1] DETAIL:  Parameters: $1 = 'new'\n",
        )
        .unwrap();
        let since = parse_since("2026-12-04T10:00:00Z").unwrap();
        let values: Vec<Option<String>> = read_log(&p, Some(since))
            .unwrap()
            .into_iter()
            .flat_map(|(_, v)| v)
            .collect();
        assert_eq!(values, [Some("new".to_string())]);
        std::fs::write(&p, "LOG:  duration: 0.5 ms  statement: SELECT 1\n").unwrap();
        let e = read_log(&p, Some(since)).unwrap_err().to_string();
        assert!(
            e.contains("--since needs a time at the start of every line"),
            "{e}"
        );
        assert!(parse_since("2d").unwrap() < chrono::Utc::now());
        assert!(parse_since("last week").is_err());
    }
}
