//! End to end against the real Neo4j that `scripts/stack up neo4j` starts: graph load,
//! baseline vs tuned (indexes, constraints, full-text, page cache), evidence, exact revert,
//! bad input and safety (`safety`). A small graph; the memory profiles restart Neo4j.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use neo4rs::{ConfigBuilder, Graph, query};
use tunebench::Results;
use tunebench::results::Evidence;

#[path = "../common/mod.rs"]
mod common;
mod drills;
mod existing;
mod safety;
use common::child::{pid_in, spawn_run};
use common::{ROOT, cache_dir, env_or, run_to};

/// Tests here share one server and one graph (and some restart it): one at a time.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn url() -> String {
    env_or("TUNEBENCH_NEO4J_URL", "bolt://127.0.0.1:7687")
}

async fn bolt() -> Graph {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Graph::connect(
        ConfigBuilder::new()
            .uri(url())
            .user(env_or("TUNEBENCH_NEO4J_USER", "neo4j"))
            .password(env_or("TUNEBENCH_NEO4J_PASSWORD", "tunebench"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

async fn names(g: &Graph, q: &str) -> BTreeSet<String> {
    let mut s = g.execute(query(q)).await.unwrap();
    let mut out = BTreeSet::new();
    while let Some(r) = s.next().await.unwrap() {
        out.insert(r.get::<String>("name").unwrap());
    }
    out
}

/// Everything a profile may touch: indexes, constraints and the two config files.
async fn server_state() -> (BTreeSet<String>, BTreeSet<String>, String, String) {
    let g = bolt().await;
    let read = |f: &str| std::fs::read_to_string(format!("{}/neo4j/{f}", cache_dir())).unwrap();
    (
        names(&g, "SHOW INDEXES YIELD name RETURN name").await,
        names(&g, "SHOW CONSTRAINTS YIELD name RETURN name").await,
        read("neo4j.conf"),
        read("jvm.conf"),
    )
}

/// A scenario in a temp folder over the repo's workload and profile files, small graph.
fn scenario(
    dir: &Path,
    password: &str,
    target_url: &str,
    extra: &str,
    definition: &str,
) -> PathBuf {
    let text = format!(
        r#"
name = "neo4j-test"
{extra}

[targets.neo]
kind = "neo4j"
url = "{target_url}"
user = "${{TUNEBENCH_NEO4J_USER:-neo4j}}"
password = "{password}"
config_dir = "{cache}/neo4j"
restart_command = "{ROOT}/scripts/stack restart neo4j"
pool = {{ max_connections = 4, connect_timeout = "5s" }}

[datasets.graph]
target = "neo"
file = "{ROOT}/datasets/graph-small.toml"

[load]
mode = "closed"
concurrency = 2
warmup = "300ms"
duration = "2s"

[[workload]]
name = "lookups"
target = "neo"
dataset = "graph"
definition = "{definition}"
ops = [{{ op = "user_lookup_hot" }}, {{ op = "user_lookup_cold" }}, {{ op = "document_lookup" }}]

[[workload]]
name = "traversals"
target = "neo"
dataset = "graph"
definition = "{definition}"
ops = [{{ op = "followers_1hop_hot" }}, {{ op = "expand_2hop" }}, {{ op = "expand_3hop" }}, {{ op = "varlen_paths" }}, {{ op = "shortest_path" }}]

[[workload]]
name = "search"
target = "neo"
dataset = "graph"
definition = "{definition}"
ops = [{{ op = "fulltext_title" }}, {{ op = "topic_neighbourhood" }}, {{ op = "entity_cooccurrence" }}]

[[profile]]
name = "baseline"
apply = {{ neo = "{ROOT}/profiles/neo4j/baseline.toml" }}

[[profile]]
name = "tuned"
apply = {{ neo = "{ROOT}/profiles/neo4j/tuned.toml" }}

[[profile]]
name = "unchanged"
apply = {{}}
"#,
        cache = cache_dir()
    );
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn default_scenario(dir: &Path, extra: &str) -> PathBuf {
    scenario(
        dir,
        "${TUNEBENCH_NEO4J_PASSWORD:-tunebench}",
        &url(),
        extra,
        &format!("{ROOT}/workloads/neo4j-traversal.toml"),
    )
}

fn neo(r: &Results, profile: &str) -> tunebench::results::NeoEvidence {
    match r.runs.iter().find(|p| p.profile == profile).unwrap().server["neo"].clone() {
        Evidence::Neo4j(n) => n,
        other => panic!("not neo4j evidence: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_vs_tuned_end_to_end_and_exact_revert() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = default_scenario(
        dir.path(),
        r#"criteria = ["traversals.p99 < 500ms", "lookups.error_rate < 1%"]"#,
    );
    let out = dir.path().join("out");
    // Load the graph first, so the "before" state includes it.
    run_to(
        &path,
        &out,
        &[
            "--profile",
            "unchanged",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
        ],
    )
    .await
    .unwrap();
    let before = server_state().await;

    let outcome = run_to(
        &path,
        &out,
        &["--profile", "baseline", "--profile", "tuned"],
    )
    .await
    .unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);

    // Revert: SHOW INDEXES, SHOW CONSTRAINTS and both config files exactly as before.
    let after = server_state().await;
    assert_eq!(before.0, after.0, "SHOW INDEXES differs after revert");
    assert_eq!(before.1, after.1, "SHOW CONSTRAINTS differs after revert");
    assert_eq!(before.2, after.2, "neo4j.conf differs after revert");
    assert_eq!(before.3, after.3, "jvm.conf differs after revert");

    let text = std::fs::read_to_string(out.join("results.json")).unwrap();
    // The stack's password is "tunebench", like the tool's name: look for the field.
    assert!(
        !text.contains("\"password\""),
        "a password field leaked into results.json"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{ROOT}/schemas/results.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "results.json does not match the schema: {errors:#?}"
    );

    let r = Results::read(&out.join("results.json")).unwrap();
    for run in &r.runs {
        assert!(run.readiness.iter().all(|c| c.ok), "{:?}", run.readiness);
        assert!(
            run.revert.iter().all(|v| v.mismatches.is_empty()),
            "{:?}",
            run.revert
        );
        for w in &run.workloads {
            assert!(
                w.ops > 0 && w.errors == 0,
                "{} / {}: {:?}",
                run.profile,
                w.workload,
                w.errors_by_kind
            );
        }
    }
    // That the tuned lookup is faster is a timing, measured by scenario runs and the gate,
    // not asserted here: on a 2-core CI machine both profiles' lookup p99 sat near 21 ms
    // (the machine's stalls, not the plan), and the tuned one came out 0.8 ms slower once.
    // What the tuning changed is asserted from the server's own evidence below: the plan
    // (label scan -> unique index seek) and the db hits.

    // Evidence: the baseline scans labels and falls back from full-text; tuned reads indexes.
    let b = neo(&r, "baseline");
    let t = neo(&r, "tuned");
    assert!(
        !b.fallbacks.is_empty(),
        "baseline must record the full-text fallback"
    );
    assert!(t.fallbacks.is_empty(), "{:?}", t.fallbacks);
    // The plan change, from PROFILE: a label scan before, a unique index seek after.
    let plan = |e: &tunebench::results::NeoEvidence, op: &str| {
        e.plans
            .iter()
            .find(|p| p.op == op)
            .unwrap_or_else(|| panic!("no plan for {op}"))
            .nodes
            .join(" > ")
    };
    assert!(
        plan(&b, "user_lookup_hot").contains("NodeByLabelScan"),
        "{}",
        plan(&b, "user_lookup_hot")
    );
    assert!(
        plan(&t, "user_lookup_hot").contains("NodeUniqueIndexSeek"),
        "{}",
        plan(&t, "user_lookup_hot")
    );
    let hits = |e: &tunebench::results::NeoEvidence, op: &str| {
        e.plans.iter().find(|p| p.op == op).unwrap().shared_hit
    };
    assert!(
        hits(&t, "user_lookup_hot") < hits(&b, "user_lookup_hot"),
        "db hits must drop"
    );
    assert!(t.index_hit_ratio.unwrap() > 0.8, "{:?}", t.index_hit_ratio);
    assert!(b.index_hit_ratio.unwrap_or(0.0) < t.index_hit_ratio.unwrap());
    // Community exposes no page cache counters: a missing ratio must say why.
    assert!(
        t.page_cache_hit_ratio.is_some()
            || t.page_cache_note
                .as_deref()
                .is_some_and(|n| n.contains("not available")),
        "{:?}",
        t.page_cache_note
    );
    assert!(
        t.constraints_present
            .contains(&"tunebench_user_handle".to_string())
    );
    assert!(
        !b.constraints_present
            .contains(&"tunebench_user_handle".to_string())
    );
    let tuned_run = r.runs.iter().find(|p| p.profile == "tuned").unwrap();
    let created: Vec<&str> = tuned_run.changes[0]
        .indexes
        .iter()
        .filter(|i| i.created)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(created.len(), 5, "{created:?}");
    let cache = &tuned_run.changes[0].settings[0];
    assert_eq!(cache.name, "server.memory.pagecache.size");
    assert!(
        cache.after.ends_with('m') && cache.after != "16m",
        "{cache:?}"
    );

    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("tunebench_document_title_ft"),
        "report lists the indexes"
    );
    assert!(report.contains("| Neo4j | yes |"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cypher_workload_is_exit_2_with_the_query_and_neo4j_error() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("bad.toml");
    std::fs::write(
        &def,
        "store = \"neo4j\"\n\n[ops.broken]\ncypher = \"MATCH (u:TunebenchUser {handle: $h}) RETRUN u\"\nparams = { h = \"user_hot\" }\n",
    )
    .unwrap();
    let path = scenario(
        dir.path(),
        "${TUNEBENCH_NEO4J_PASSWORD:-tunebench}",
        &url(),
        "",
        def.to_str().unwrap(),
    );
    // Only the broken op: rewrite the workloads to use it.
    let text = std::fs::read_to_string(&path).unwrap();
    let head = text.split("[[workload]]").next().unwrap().to_string();
    let tail = text
        .split("[[profile]]")
        .skip(1)
        .collect::<Vec<_>>()
        .join("[[profile]]");
    std::fs::write(
        &path,
        format!(
            "{head}[[workload]]\nname = \"bad\"\ntarget = \"neo\"\ndataset = \"graph\"\ndefinition = \"{}\"\nops = [{{ op = \"broken\" }}]\n\n[[profile]]{tail}",
            def.display()
        ),
    )
    .unwrap();
    let err = run_to(&path, &dir.path().join("o"), &["--profile", "baseline"])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("bad.toml"), "{msg}");
    assert!(msg.contains("ops.broken.cypher"), "{msg}");
    assert!(msg.contains("RETRUN u"), "the query is shown: {msg}");
    assert!(
        msg.contains("SyntaxError") || msg.contains("Invalid input"),
        "Neo4j's error is shown: {msg}"
    );
    // The profile was reverted after the failure.
    let state = server_state().await;
    assert!(
        !state.2.contains("pagecache.size=16m"),
        "baseline page cache left in neo4j.conf"
    );
}

/// Neo4j killed mid-measurement (SIGKILL to the JVM): the run exits 3 within twice the op
/// timeout, writes what it measured marked incomplete and leaves its journal; with the server
/// back, the run is refused and `tunebench revert` restores indexes, constraints and both
/// config files exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_mid_run_leaves_a_journal_that_revert_restores_exactly() {
    let _server = SERVER.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let path = default_scenario(dir.path(), "");
    let out = dir.path().join("out");
    run_to(
        &path,
        &out,
        &[
            "--profile",
            "unchanged",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
        ],
    )
    .await
    .unwrap();
    let before = server_state().await;
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "duration = \"2s\"",
        "duration = \"1s\"\ntrials = 60\nop_timeout = \"10s\"",
    );
    std::fs::write(&path, text).unwrap();

    let crashed = dir.path().join("crashed");
    let child = spawn_run(&path, &crashed, &["--profile", "tuned", "--warmup", "0s"]);
    // Applied (the last schema item of the profile), then a few trials measured.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(240);
    loop {
        // Neo4j restarts while the profile is applied: no answer is a reason to wait.
        if try_index_names()
            .await
            .is_some_and(|n| n.contains("tunebench_document_title_ft"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tuned not applied in 4 minutes"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let pid = pid_in(Path::new(&format!("{}/neo4j/run/neo4j.pid", cache_dir())));
    let (took, code, stderr) = child.after_signal(pid, libc::SIGKILL).await;
    assert_eq!(code, Some(3), "{stderr}");
    eprintln!("exit 3 {took:?} after the kill");
    let r = Results::read(&crashed.join("results.json")).unwrap();
    assert!(r.incomplete.is_some(), "partial results marked incomplete");
    let s = tunebench::scenario::load(&path).unwrap();
    let left = tunebench::backend::journal::on_server(&s.targets["neo"]).unwrap();
    assert_eq!(left.len(), 1, "the journal is left");

    let up = std::process::Command::new(format!("{ROOT}/scripts/stack"))
        .args(["up", "neo4j"])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    common::assert_refused_by_both_journals(
        &path,
        "neo",
        dir.path(),
        &["--profile", "unchanged"],
        "tuned",
        "nodes labelled tunebench_Journal",
    )
    .await;
    // From the server's copy alone.
    let o = common::run(&["revert", path.to_str().unwrap()])
        .await
        .unwrap();
    assert_eq!(o.exit_code, 0, "{}", o.summary);
    let o = common::run(&["revert", path.to_str().unwrap()])
        .await
        .unwrap();
    assert!(o.summary.starts_with("nothing to revert"), "{}", o.summary);
    let after = server_state().await;
    assert_eq!(before.0, after.0, "SHOW INDEXES differs after revert");
    assert_eq!(before.1, after.1, "SHOW CONSTRAINTS differs after revert");
    assert_eq!(before.2, after.2, "neo4j.conf differs after revert");
    assert_eq!(before.3, after.3, "jvm.conf differs after revert");
    // Last, so a slow exit does not leave the server down and the profile applied.
    assert!(
        took < std::time::Duration::from_secs(20),
        "exit 3 took {took:?}, over twice the 10 s op timeout: {stderr}"
    );
}

/// SHOW INDEXES, or None while the server does not answer.
async fn try_index_names() -> Option<BTreeSet<String>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ConfigBuilder::new()
        .uri(url())
        .user(env_or("TUNEBENCH_NEO4J_USER", "neo4j"))
        .password(env_or("TUNEBENCH_NEO4J_PASSWORD", "tunebench"))
        .build()
        .ok()?;
    let probe = async {
        let g = Graph::connect(config).await.ok()?;
        let mut rows = g
            .execute(query("SHOW INDEXES YIELD name RETURN name"))
            .await
            .ok()?;
        let mut out = BTreeSet::new();
        while let Ok(Some(r)) = rows.next().await {
            out.insert(r.get::<String>("name").ok()?);
        }
        Some(out)
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), probe)
        .await
        .ok()
        .flatten()
}
