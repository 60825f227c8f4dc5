//! Safety and bad input: wrong password and unreachable server (exit 3, no secret in the
//! message), nodes tunebench did not create left alone, bad files named with their position.

use neo4rs::query;

use crate::common::{self, ROOT, run, run_to};
use crate::{SERVER, bolt, default_scenario, scenario, url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_exit_3_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "not-the-Password-42",
        &url(),
        "",
        &format!("{ROOT}/workloads/neo4j-traversal.toml"),
    );
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    let msg = err.to_string();
    assert!(
        msg.to_lowercase().contains("unauthorized") || msg.contains("authentication"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-Password-42"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(
        dir.path(),
        "x",
        "bolt://127.0.0.1:1",
        "",
        &format!("{ROOT}/workloads/neo4j-traversal.toml"),
    );
    common::assert_unreachable_is_exit_3(&path, &dir.path().join("o")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_tunebench_did_not_create_are_left_alone() {
    let _server = SERVER.lock().await;
    let g = bolt().await;
    // Remove tunebench's own graph (the manifest vouches for it), then plant a foreign node
    // under one of the labels.
    for label in [
        "TunebenchUser",
        "TunebenchDocument",
        "TunebenchTopic",
        "TunebenchEntity",
        "TunebenchManifest",
    ] {
        loop {
            let mut s = g
                .execute(query(&format!(
                    "MATCH (n:{label}) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS c"
                )))
                .await
                .unwrap();
            let c: i64 = s.next().await.unwrap().unwrap().get("c").unwrap();
            if c == 0 {
                break;
            }
        }
    }
    g.run(query(
        "CREATE (:TunebenchTopic {name: 'theirs', owner: 'someone else'})",
    ))
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = default_scenario(dir.path(), "");
    let err = run_to(&path, &dir.path().join("o"), &[]).await.unwrap_err();
    let mut s = g
        .execute(query(
            "MATCH (n:TunebenchTopic) RETURN count(n) AS c, collect(n.owner)[0] AS o",
        ))
        .await
        .unwrap();
    let row = s.next().await.unwrap().unwrap();
    let (count, owner): (i64, String) = (row.get("c").unwrap(), row.get("o").unwrap());
    g.run(query(
        "MATCH (n:TunebenchTopic {owner: 'someone else'}) DELETE n",
    ))
    .await
    .unwrap();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert!(err.to_string().contains("did not create"), "{err}");
    assert_eq!(
        (count, owner.as_str()),
        (1, "someone else"),
        "the foreign node was touched"
    );
}

#[tokio::test]
async fn bad_neo4j_files_are_exit_2_naming_file_position_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("w.toml"),
        "store = \"neo4j\"\n[ops.q]\ncypher = \"MATCH (u:TunebenchUser {handle: $x}) RETURN u\"\nparams = { y = \"user_hot\" }\n",
    )
    .unwrap();
    std::fs::write(
        d.join("p.toml"),
        "store = \"neo4j\"\nheap = \"lots\"\n[[schema]]\nname = \"user_handle\"\nup = \"CREATE INDEX user_handle FOR (u:TunebenchUser) ON (u.handle)\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("g.toml"),
        "kind = \"graph\"\nseed = 1\nusers = 0\ndocuments = 1\ntopics = 1\nentities = 1\n",
    )
    .unwrap();
    std::fs::write(
        d.join("s.toml"),
        r#"name = "bad"
[targets.neo]
kind = "neo4j"
url = "http://127.0.0.1:7474"
[datasets.graph]
target = "neo"
file = "g.toml"
[load]
mode = "closed"
concurrency = 1
duration = "1s"
[[workload]]
name = "w"
target = "neo"
dataset = "graph"
definition = "w.toml"
ops = [{ op = "q" }]
[[profile]]
name = "p"
apply = { neo = "p.toml" }
"#,
    )
    .unwrap();
    let err = run(&["validate", d.join("s.toml").to_str().unwrap()])
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    let msg = err.to_string();
    for expect in [
        "s.toml:4:7",
        "not a Neo4j Bolt URL",
        "needs user and password",
        "g.toml:3:9",
        "users",
        "w.toml:3:10",
        "uses $x",
        "params.y",
        "p.toml:2:8",
        "not a heap size",
        "schema[0].name",
        "must start with tunebench_",
    ] {
        assert!(msg.contains(expect), "missing `{expect}` in:\n{msg}");
    }
}
