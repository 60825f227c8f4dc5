//! The Qdrant server path's results shape, kept honest where no Qdrant server runs (CI): a
//! results file from a real run against a Qdrant server (`tests/fixtures/results-qdrant-server.json`:
//! `scenarios/qdrant-server-vs-embedded.toml` with `TUNEBENCH_SIZE=tiny`, Qdrant 1.19.0 built
//! from its source tag, see docs/qdrant.md) matches the schema, reads and writes back
//! unchanged, and carries the server's own evidence next to the embedded engine's.

use serde_json::Value;
use tunebench::Results;

use super::{assert_valid, load_json, repo_path, schema_validator};

const QDRANT: &str = "tests/fixtures/results-qdrant-server.json";

fn fixture() -> Value {
    load_json(&repo_path(QDRANT))
}

#[test]
fn qdrant_server_fixture_matches_the_schema_and_round_trips() {
    let v = fixture();
    assert_valid(&schema_validator(), &v, QDRANT);
    let results = Results::read(&repo_path(QDRANT))
        .unwrap_or_else(|e| panic!("Results::read({QDRANT}) failed: {e}"));
    let back = serde_json::to_value(&results).expect("results serialize");
    assert!(back == v, "reading and writing {QDRANT} changed it");
}

#[test]
fn qdrant_server_fixture_carries_the_servers_own_evidence() {
    let v = fixture();
    let server_version = v["environment"]["targets"]["server"]["server_version"]
        .as_str()
        .unwrap();
    assert!(server_version.contains("server, gRPC"), "{server_version}");
    let runs = v["runs"].as_array().unwrap();
    assert!(runs.len() >= 2, "before and after profiles");
    for run in runs {
        let profile = run["profile"].as_str().unwrap();
        let server = &run["server"]["server"];
        assert_eq!(server["mode"], "server", "{profile}");
        let view = &server["server"];
        assert!(view["error"].is_null(), "{profile}: {view}");
        // The server counted the searches tunebench counted on that target, trial for trial.
        let ops: u64 = run["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["target"] == "server")
            .map(|w| w["ops"].as_u64().unwrap())
            .sum();
        assert!(ops > 0, "{profile}");
        assert_eq!(
            view["requests"]["/qdrant.Points/Search"]["count"].as_u64(),
            Some(ops),
            "{profile}: {view}"
        );
        assert!(
            view["memory_resident_bytes"].as_u64() > Some(0),
            "{profile}"
        );
        assert!(!view["index_searches"].as_object().unwrap().is_empty());
        let embedded = &run["server"]["embedded"];
        assert_eq!(embedded["mode"], "embedded", "{profile}");
        assert!(embedded.get("server").is_none(), "{profile}: {embedded}");
    }
}
