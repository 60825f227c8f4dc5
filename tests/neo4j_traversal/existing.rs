//! Workloads on a graph tunebench did not create (no dataset): parameters from a file, a
//! range, a list and a sample of the user's own nodes; readiness from the statements; the
//! graph read only, and writes refused before anything runs.

use neo4rs::query;
use tunebench::Results;

use crate::common::{ROOT, run_to};
use crate::{SERVER, bolt, url};

/// The application's graph, made by this test (as an application would), never by tunebench.
const FIXTURE: &[&str] = &[
    "MATCH (n:ShopFixtureCustomer) DETACH DELETE n",
    "MATCH (n:ShopFixtureProduct) DETACH DELETE n",
    "MATCH (n:ShopFixtureMade) DETACH DELETE n",
    "UNWIND range(1, 400) AS i CREATE (:ShopFixtureCustomer {cid: i, region: ['eu', 'us', 'apac'][i % 3]})",
    "UNWIND range(1, 50) AS i CREATE (:ShopFixtureProduct {pid: i, name: 'product ' + i})",
    "MATCH (c:ShopFixtureCustomer), (p:ShopFixtureProduct) WHERE (c.cid * 7 + p.pid) % 9 = 0 CREATE (c)-[:SHOP_FIXTURE_BOUGHT {qty: c.cid % 5 + 1}]->(p)",
];

/// Everything in the fixture, as one digest: nodes, their properties, relationships.
async fn fingerprint() -> String {
    let g = bolt().await;
    let mut s = g
        .execute(query(
            "MATCH (c:ShopFixtureCustomer) OPTIONAL MATCH (c)-[b:SHOP_FIXTURE_BOUGHT]->(p) \
             WITH c, count(b) AS n, sum(b.qty) AS q ORDER BY c.cid \
             RETURN count(c) AS nodes, sum(n) AS rels, sum(q) AS qty, \
                    reduce(s = '', x IN collect(c.region) | s + x) AS regions, \
                    COUNT { MATCH (p:ShopFixtureProduct) } AS products, \
                    COUNT { MATCH (x) WHERE any(l IN labels(x) WHERE l STARTS WITH 'ShopFixture') } AS labelled",
        ))
        .await
        .unwrap();
    let r = s.next().await.unwrap().unwrap();
    format!(
        "{} {} {} {} {} {}",
        r.get::<i64>("nodes").unwrap(),
        r.get::<i64>("rels").unwrap(),
        r.get::<i64>("qty").unwrap(),
        r.get::<String>("regions").unwrap().len(),
        r.get::<i64>("products").unwrap(),
        r.get::<i64>("labelled").unwrap()
    )
}

fn write_scenario(dir: &std::path::Path, ops: &str, extra_ops: &str) -> std::path::PathBuf {
    std::fs::write(
        dir.join("customers.csv"),
        "cid,region\n3,eu\n7,us\n11,apac\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("shop.toml"),
        format!(
            r#"store = "neo4j"
description = "the shop's own graph queries"

[ops.bought_by]
cypher = "MATCH (c:ShopFixtureCustomer {{cid: $c.cid, region: $c.region}})-[:SHOP_FIXTURE_BOUGHT]->(p) RETURN p.name"
params = {{ c = {{ from = "file", path = "customers.csv", columns = ["cid", "region"] }} }}

[ops.customer]
cypher = "MATCH (c:ShopFixtureCustomer {{cid: $id}}) RETURN c.region"
params = {{ id = {{ from = "range", min = 1, max = 400, distribution = "zipf", s = 1.1 }} }}

[ops.in_region]
cypher = "MATCH (c:ShopFixtureCustomer {{region: $r}}) RETURN count(c)"
params = {{ r = {{ from = "list", values = ["eu", "us"] }} }}

[ops.buyers_of]
cypher = "MATCH (p:ShopFixtureProduct {{pid: $pid}})<-[:SHOP_FIXTURE_BOUGHT]-(c) RETURN count(c)"
params = {{ pid = {{ from = "sample", query = "MATCH (p:ShopFixtureProduct) WHERE p.pid % 2 = 0 RETURN p.pid AS pid", column = "pid", size = 10 }} }}
{extra_ops}"#
        ),
    )
    .unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "existing-graph"
criteria = ["shop.error_rate < 1%"]

[targets.neo]
kind = "neo4j"
url = "{url}"
user = "${{TUNEBENCH_NEO4J_USER:-neo4j}}"
password = "${{TUNEBENCH_NEO4J_PASSWORD:-tunebench}}"
pool = {{ max_connections = 4, connect_timeout = "5s" }}

[load]
mode = "closed"
concurrency = 2
warmup = "200ms"
duration = "800ms"

[[workload]]
name = "shop"
target = "neo"
definition = "shop.toml"
ops = [{ops}]

[[profile]]
name = "baseline"
apply = {{}}
"#,
            url = url()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_graph_is_measured_with_its_own_parameters_and_left_as_it_was() {
    let _server = SERVER.lock().await;
    let g = bolt().await;
    for s in FIXTURE {
        g.run(query(s)).await.unwrap();
    }
    let before = fingerprint().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = write_scenario(
        dir.path(),
        r#"{ op = "bought_by" }, { op = "customer" }, { op = "in_region" }, { op = "buyers_of" }"#,
        "",
    );
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let run = &r.runs[0];
    let w = &run.workloads[0];
    assert!(w.errors == 0, "{} errors: {:?}", w.errors, w.errors_by_kind);
    for op in ["bought_by", "customer", "in_region", "buyers_of"] {
        assert!(
            w.operations.iter().any(|o| o.op == op && o.ops > 0),
            "{op} did not run"
        );
    }
    let sample = w
        .param_sources
        .iter()
        .find(|s| s.op == "buyers_of")
        .unwrap();
    assert_eq!((sample.from.as_str(), sample.rows), ("sample", Some(10)));
    // Readiness came from the statements: Neo4j calls each a read; the labels have nodes.
    let checks: Vec<String> = run
        .readiness
        .iter()
        .map(|c| format!("{} {}", c.check, c.ok))
        .collect();
    for want in [
        "statement shop.bought_by is a read true",
        "nodes :ShopFixtureCustomer true",
        "indexes on :ShopFixtureProduct online true",
    ] {
        assert!(checks.iter().any(|c| c == want), "{want}: {checks:?}");
    }
    // The plans' parameters name their source, never the user's values.
    let shown = serde_json::to_string(&run.server["neo"].plans()).unwrap();
    assert!(
        shown.contains("(drawn from customers.csv [cid, region])"),
        "{shown}"
    );
    assert_eq!(
        fingerprint().await,
        before,
        "the application's graph changed"
    );

    // An index on the application's label, the tuning being measured: only with the
    // target's allow_foreign_indexes; built online, dropped after, the schema as before.
    std::fs::write(
        dir.path().join("index.toml"),
        "store = \"neo4j\"\n[[schema]]\nname = \"tunebench_fixture_cid\"\nup = \"CREATE RANGE INDEX tunebench_fixture_cid FOR (c:ShopFixtureCustomer) ON (c.cid)\"\n",
    )
    .unwrap();
    let indexed = std::fs::read_to_string(&path).unwrap()
        + "\n[[profile]]\nname = \"cid_index\"\napply = { neo = \"index.toml\" }\n";
    std::fs::write(&path, &indexed).unwrap();
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string()
            .contains("indexes :ShopFixtureCustomer, which tunebench did not create")
            && err
                .to_string()
                .contains("allow_foreign_indexes = true on targets.neo"),
        "{err}"
    );
    let schema = |g: neo4rs::Graph| async move {
        let mut s = g
            .execute(query(
                "SHOW INDEXES YIELD name RETURN collect(name) AS names",
            ))
            .await
            .unwrap();
        let mut names: Vec<String> = s.next().await.unwrap().unwrap().get("names").unwrap();
        names.sort();
        names
    };
    let schema_before = schema(bolt().await).await;
    std::fs::write(
        &path,
        indexed.replace(
            "[targets.neo]\n",
            "[targets.neo]\nallow_foreign_indexes = true\n",
        ),
    )
    .unwrap();
    let outcome = run_to(&path, &out, &[]).await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    let r = Results::read(&out.join("results.json")).unwrap();
    let tuned = &r.runs[1];
    let plan = tuned.server["neo"]
        .plans()
        .iter()
        .find(|p| p.op == "customer")
        .unwrap()
        .nodes
        .join(" > ");
    assert!(plan.contains("NodeIndexSeek"), "{plan}");
    assert!(
        tuned.revert.len() == 1 && tuned.revert[0].mismatches.is_empty(),
        "{:?}",
        tuned.revert
    );
    assert_eq!(
        schema(bolt().await).await,
        schema_before,
        "the schema changed"
    );
    assert_eq!(
        fingerprint().await,
        before,
        "the application's graph changed"
    );

    // A write clause is refused before anything runs, naming the op.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "customer" }, { op = "tag" }"#,
        "[ops.tag]\ncypher = \"MATCH (c:ShopFixtureCustomer {cid: $id}) SET c.seen = true\"\nparams = { id = { from = \"list\", values = [1] } }\n",
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string()
            .contains("op `tag` writes or changes the schema (SET)"),
        "{err}"
    );

    // A write the words cannot show (a procedure): Neo4j's planner says it is not a read,
    // and nothing is measured.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "make_label" }"#,
        "[ops.make_label]\ncypher = \"CALL apoc.create.node(['ShopFixtureMade'], {}) YIELD node RETURN node\"\n",
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("statement shop.make_label is a read"),
        "{err}"
    );
    let made: i64 = {
        let mut s = g
            .execute(query("MATCH (n:ShopFixtureMade) RETURN count(n) AS n"))
            .await
            .unwrap();
        s.next().await.unwrap().unwrap().get("n").unwrap()
    };
    g.run(query("MATCH (n:ShopFixtureMade) DELETE n"))
        .await
        .unwrap();
    assert_eq!(made, 0, "the procedure ran");

    // tunebench's generators need its graph.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "hot" }"#,
        "[ops.hot]\ncypher = \"MATCH (u:User {handle: $h}) RETURN u\"\nparams = { h = \"user_hot\" }\n",
    );
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string().contains("draws $h from tunebench's graph"),
        "{err}"
    );

    // A label with no nodes is not measured.
    let path = write_scenario(
        dir.path(),
        r#"{ op = "ghost" }"#,
        "[ops.ghost]\ncypher = \"MATCH (c:ShopFixtureCustomer)-[:SHOP_FIXTURE_BOUGHT]->(p:ShopFixtureProduct) WHERE p.pid = $p RETURN c\"\nparams = { p = { from = \"list\", values = [1] } }\n",
    );
    g.run(query("MATCH (n:ShopFixtureProduct) DETACH DELETE n"))
        .await
        .unwrap();
    let err = run_to(&path, &out, &[]).await.unwrap_err();
    assert!(
        err.to_string().contains("nodes :ShopFixtureProduct"),
        "{err}"
    );
    g.run(query("MATCH (n:ShopFixtureCustomer) DETACH DELETE n"))
        .await
        .unwrap();
    let _ = ROOT;
}

/// The application's statements, seen running by `capture neo4j --watch`, replay as a
/// workload on the graph they ran on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_cypher_replays_as_a_workload() {
    let _server = SERVER.lock().await;
    let g = bolt().await;
    for s in FIXTURE {
        g.run(query(s)).await.unwrap();
    }
    g.run(query("MATCH (n:ShopFixtureLog) DELETE n"))
        .await
        .unwrap();
    // The application: two reads with known parameters (one twice as often) and a write, each
    // slower than the watch's poll interval (a sleep), so the polls see them running.
    let app = tokio::spawn(async move {
        let g = bolt().await;
        // Results are read, as an application reads them (a discarded read may not run).
        let read = async |q: neo4rs::Query| {
            let mut s = g.execute(q).await.unwrap();
            while s.next().await.unwrap().is_some() {}
        };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
        let mut i = 0usize;
        while std::time::Instant::now() < until {
            let (cid, region) = [(3i64, "eu"), (7, "us"), (11, "apac")][i % 3];
            for _ in 0..2 {
                read(
                    query("MATCH (a:ShopFixtureCustomer {cid: $cid, region: $region}) CALL apoc.util.sleep(60) RETURN a.cid AS n")
                        .param("cid", cid)
                        .param("region", region),
                )
                .await;
            }
            read(
                query("MATCH (a:ShopFixtureCustomer) WHERE a.cid < $limit WITH count(a) AS n CALL apoc.util.sleep(60) RETURN n")
                    .param("limit", [200i64, 300][i % 2]),
            )
            .await;
            g.run(query("MATCH (a:ShopFixtureCustomer) WHERE a.cid = 1 CALL apoc.util.sleep(60) CREATE (:ShopFixtureLog {n: a.cid})"))
                .await
                .unwrap();
            i += 1;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("captured.toml");
    let args = [
        "capture",
        "neo4j",
        "--url",
        &url(),
        "--watch",
        "3s",
        "--out",
        out.to_str().unwrap(),
        "--matching",
        "ShopFixture",
    ];
    let outcome = crate::common::run(&args).await.unwrap();
    app.await.unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.summary);
    assert!(
        outcome.summary.contains("were left out"),
        "the CREATE: {}",
        outcome.summary
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("CREATE"), "{text}");
    assert!(
        text.contains("statements captured from SHOW TRANSACTIONS on "),
        "{text}"
    );
    // The statement with its values, both from one row.
    let op = text
        .split("\n[ops.")
        .find(|o| o.contains("{cid: $cid, region: $region}"))
        .unwrap_or_else(|| panic!("{text}"));
    let name = op.split(']').next().unwrap();
    assert!(
        op.contains(&format!(
            r#"params = {{ "cid,region" = {{ from = "file", path = "captured-params/{name}.csv", columns = ["cid", "region"], types = {{ cid = "int", region = "text" }} }} }}"#
        )),
        "{op}"
    );
    let csv =
        std::fs::read_to_string(dir.path().join(format!("captured-params/{name}.csv"))).unwrap();
    // Each execution seen is one row, its two values as the application paired them (which
    // executions a watch sees depends on timing; that they stay paired does not).
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(
        csv.starts_with("cid,region\n")
            && !rows.is_empty()
            && rows.iter().all(|r| ["3,eu", "7,us", "11,apac"].contains(r)),
        "{csv}"
    );
    assert!(text.contains("a.cid < $limit"), "{text}");

    // It replays as written: a workload with no dataset over the ready ops.
    let ops = text
        .lines()
        .find_map(|l| l.strip_prefix("# ops = "))
        .unwrap()
        .to_string();
    let scenario = dir.path().join("replay.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"replay\"\n[targets.neo]\nkind = \"neo4j\"\nurl = \"{}\"\nuser = \"${{TUNEBENCH_NEO4J_USER:-neo4j}}\"\npassword = \"${{TUNEBENCH_NEO4J_PASSWORD:-tunebench}}\"\n[load]\nmode = \"closed\"\nconcurrency = 2\nwarmup = \"100ms\"\nduration = \"500ms\"\n[[workload]]\nname = \"captured\"\ntarget = \"neo\"\ndefinition = \"captured.toml\"\nops = {ops}\n[[profile]]\nname = \"as_is\"\napply = {{}}\n",
            url()
        ),
    )
    .unwrap();
    let r = run_to(&scenario, &dir.path().join("o"), &[]).await.unwrap();
    assert_eq!(r.exit_code, 0, "{}", r.summary);
    let results = Results::read(&dir.path().join("o/results.json")).unwrap();
    let w = &results.runs[0].workloads[0];
    assert!(
        w.ops > 0 && w.errors == 0,
        "{} ops, {} errors",
        w.ops,
        w.errors
    );
    let report = std::fs::read_to_string(dir.path().join("o/report.md")).unwrap();
    assert!(
        report.contains("### Statements on your data")
            && report.contains("{cid: $cid, region: $region}"),
        "{report}"
    );
    g.run(query("MATCH (n:ShopFixtureLog) DELETE n"))
        .await
        .unwrap();
    g.run(query("MATCH (n:ShopFixtureCustomer) DETACH DELETE n"))
        .await
        .unwrap();
    g.run(query("MATCH (n:ShopFixtureProduct) DETACH DELETE n"))
        .await
        .unwrap();

    // A plain Cypher file: reads become ops (those with parameters commented out until they
    // have a source), writes are left out.
    let cypher = dir.path().join("app.cypher");
    std::fs::write(
        &cypher,
        "MATCH (c:Customer {cid: $cid}) RETURN c;\n// the dashboard\nMATCH (c:Customer) RETURN count(c);\nMATCH (c:Customer) SET c.seen = true;\n",
    )
    .unwrap();
    let from_file = dir.path().join("from-file.toml");
    let outcome = crate::common::run(&[
        "capture",
        "neo4j",
        "--url",
        &url(),
        "--from-file",
        cypher.to_str().unwrap(),
        "--out",
        from_file.to_str().unwrap(),
    ])
    .await
    .unwrap();
    assert!(
        outcome
            .summary
            .contains("1 statements that write were left out"),
        "{}",
        outcome.summary
    );
    let text = std::fs::read_to_string(&from_file).unwrap();
    assert!(
        text.contains("# needs a source for $cid")
            && text.contains("# cypher = \"MATCH (c:Customer {cid: $cid}) RETURN c\"")
            && text.contains("\ncypher = \"MATCH (c:Customer) RETURN count(c)\"")
            && !text.contains("SET"),
        "{text}"
    );
}
