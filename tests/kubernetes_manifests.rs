//! deploy/kubernetes/ rendered with a scenario's values (as `envsubst` does), parsed as
//! YAML, and the commands its containers run parsed by tunebench's own command line: the
//! manifests cannot drift from the flags. Kubernetes itself cannot run here; the same flow
//! runs on this host in tests/postgres_fts/shards.rs (coordinator and workers through S3).

use std::path::Path;

use clap::Parser;
use tunebench::cli::{Cli, Command};
use yaml_rust2::{Yaml, YamlLoader};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const WORKERS: u32 = 3;
const SCENARIO: &str = "scenarios/postgres-stall.toml";
const RENDEZVOUS: &str = "s3://tunebench-results/runs";

/// The manifest with `${VAR}` replaced, as `envsubst` would, and parsed.
fn render(file: &str) -> Yaml {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("deploy/kubernetes").join(file)).unwrap();
    let workers = WORKERS.to_string();
    let values = [
        ("RUN_ID", "20261203-150000"),
        ("WORKERS", workers.as_str()),
        ("IMAGE", "tunebench:0.1.0"),
        ("SCENARIO", SCENARIO),
        ("RENDEZVOUS", RENDEZVOUS),
    ];
    let mut out = text.clone();
    for (k, v) in values {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    let left: Vec<&str> = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("${"))
        .collect();
    assert!(left.is_empty(), "{file}: unset variables: {left:?}");
    let mut docs = YamlLoader::load_from_str(&out).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(docs.len(), 1, "{file}: one document");
    docs.remove(0)
}

fn container(job: &Yaml) -> &Yaml {
    &job["spec"]["template"]["spec"]["containers"][0]
}

/// The container's command line as tunebench parses it, `$(SHARD_INDEX)` set to `shard`.
fn command(job: &Yaml, shard: u32) -> Command {
    let args: Vec<String> = container(job)["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("$(SHARD_INDEX)", &shard.to_string())
        })
        .collect();
    let argv = std::iter::once("tunebench".to_string()).chain(args);
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("the manifest's command does not parse: {e}"))
        .command
}

#[test]
fn workers_are_an_indexed_job_whose_pods_are_the_shards() {
    let job = render("workers.yaml");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["completions"].as_i64(), Some(i64::from(WORKERS)));
    assert_eq!(spec["parallelism"].as_i64(), Some(i64::from(WORKERS)));
    assert_eq!(spec["backoffLimit"].as_i64(), Some(0));
    // The shard index comes from the Job's completion index.
    let env = container(&job)["env"].as_vec().unwrap();
    let index = env
        .iter()
        .find(|e| e["name"].as_str() == Some("SHARD_INDEX"))
        .expect("SHARD_INDEX is set");
    assert_eq!(
        index["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        Some("metadata.annotations['batch.kubernetes.io/job-completion-index']")
    );
    for i in 0..WORKERS {
        let Command::Worker(a) = command(&job, i) else {
            panic!("workers run `tunebench worker`")
        };
        assert_eq!((a.shard.index, a.shard.count), (i, WORKERS));
        assert_eq!(
            a.rendezvous.as_deref(),
            Some("s3://tunebench-results/runs/20261203-150000")
        );
        assert_eq!(a.scenario, Path::new(SCENARIO));
        assert!(a.start_at.is_none(), "the plans carry the start");
    }
}

#[test]
fn the_coordinator_runs_the_scenario_with_as_many_workers_at_the_same_prefix() {
    let job = render("coordinator.yaml");
    assert_eq!(job["kind"].as_str(), Some("Job"));
    assert_eq!(job["spec"]["completions"].as_i64(), Some(1));
    assert_eq!(job["spec"]["backoffLimit"].as_i64(), Some(0));
    let Command::Run(a) = command(&job, 0) else {
        panic!("the coordinator runs `tunebench run`")
    };
    assert_eq!(a.workers, Some(WORKERS));
    assert_eq!(
        a.rendezvous.as_deref(),
        Some("s3://tunebench-results/runs/20261203-150000")
    );
    assert_eq!(a.scenario, Path::new(SCENARIO));
    let mounts = container(&job)["volumeMounts"].as_vec().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["mountPath"].as_str() == a.out.to_str())
    );
    // The scenario the manifests name is in the image (the repository) and valid.
    tunebench::scenario::load(&Path::new(ROOT).join(SCENARIO)).unwrap();
}

#[test]
fn the_example_secret_holds_every_variable_the_pods_need() {
    let secret = render("secret.example.yaml");
    assert_eq!(secret["kind"].as_str(), Some("Secret"));
    let keys: Vec<&str> = secret["stringData"]
        .as_hash()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    for var in [
        "TUNEBENCH_PG_URL",
        "TUNEBENCH_S3_ENDPOINT",
        "TUNEBENCH_S3_ACCESS_KEY",
        "TUNEBENCH_S3_SECRET_KEY",
    ] {
        assert!(keys.contains(&var), "{var} missing from {keys:?}");
    }
    let name = secret["metadata"]["name"].as_str();
    for file in ["workers.yaml", "coordinator.yaml"] {
        let job = render(file);
        let from = &container(&job)["envFrom"][0]["secretRef"]["name"];
        assert_eq!(from.as_str(), name, "{file} reads the example secret");
    }
}
