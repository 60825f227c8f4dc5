//! Unit tests of `model.rs`: the by-store enums and what each kind reads.

use super::*;
use crate::backend::{neo4j, postgres, qdrant, s3};

/// A target of `kind` with none of the optional fields set.
fn target(kind: TargetKind) -> Target {
    Target {
        name: "t".into(),
        kind,
        url: String::new(),
        url_redacted: String::new(),
        restart_command: None,
        workdir: PathBuf::from("."),
        pool: PoolSpec::default(),
        pool_idle_timeout: Duration::from_secs(30),
        pool_connect_timeout: Duration::from_secs(5),
        allow_foreign_indexes: false,
        allow_writes: false,
        options: match kind {
            TargetKind::Neo4j => TargetOptions::Neo4j(neo4j::spec::NeoTarget {
                user: "neo4j".into(),
                password: "p".into(),
                config_dir: None,
            }),
            TargetKind::S3 => TargetOptions::S3(s3::spec::S3Target {
                access_key: "a".into(),
                secret_key: "s".into(),
                region: None,
                settings_file: None,
            }),
            _ => TargetOptions::None,
        },
    }
}

fn toml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    toml::from_str(text).expect("a valid profile")
}

#[test]
fn profiles_that_need_what_the_target_lacks_are_found_without_a_server() {
    // PostgreSQL: no dataset for the indexes, a restart setting without restart_command.
    let pg: postgres::spec::PgProfile = toml(
        "store = \"postgres\"\n[settings]\nshared_buffers = \"256MB\"\nwork_mem = \"8MB\"\n[[indexes]]\nname = \"i\"\ntable = \"t\"\nup = \"CREATE INDEX i ON {schema}.t (a)\"\n",
    );
    let found = ProfileDef::Postgres(pg.clone()).problems(&target(TargetKind::Postgres), false);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("no dataset"), "{found:?}");
    assert!(
        found[1].contains("shared_buffers") && !found[1].contains("work_mem"),
        "{found:?}"
    );
    // Settings alone are fine without a dataset (the workloads then run on existing data).
    let settings_only: postgres::spec::PgProfile =
        toml("store = \"postgres\"\n[settings]\nwork_mem = \"8MB\"\n");
    assert!(
        ProfileDef::Postgres(settings_only)
            .problems(&target(TargetKind::Postgres), false)
            .is_empty()
    );
    let mut ok = target(TargetKind::Postgres);
    ok.restart_command = Some("true".into());
    assert!(ProfileDef::Postgres(pg).problems(&ok, true).is_empty());

    // Neo4j: memory settings need config_dir and restart_command.
    let neo: neo4j::spec::NeoProfile = toml("store = \"neo4j\"\nheap = \"1g\"\n");
    let found = ProfileDef::Neo4j(neo.clone()).problems(&target(TargetKind::Neo4j), true);
    assert!(
        found.len() == 1 && found[0].contains("config_dir"),
        "{found:?}"
    );
    let mut ok = target(TargetKind::Neo4j);
    if let TargetOptions::Neo4j(o) = &mut ok.options {
        o.config_dir = Some(PathBuf::from("conf"));
    }
    ok.restart_command = Some("true".into());
    assert!(ProfileDef::Neo4j(neo).problems(&ok, true).is_empty());

    // S3: bucket settings need a bucket, parity needs settings_file and restart_command.
    let s3p: s3::spec::S3Profile =
        toml("store = \"s3\"\nversioning = \"enabled\"\n[server]\nparity = 1\n");
    let found = ProfileDef::S3(s3p.clone()).problems(&target(TargetKind::S3), false);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("no objects dataset") && found[1].contains("settings_file"));
    let mut ok = target(TargetKind::S3);
    if let TargetOptions::S3(o) = &mut ok.options {
        o.settings_file = Some("env".into());
    }
    ok.restart_command = Some("true".into());
    assert!(ProfileDef::S3(s3p).problems(&ok, true).is_empty());

    // Qdrant: a profile that changes the collection needs tunebench's own (a dataset's);
    // search parameters go with any collection's queries.
    let q: qdrant::spec::QdrantProfile = toml("store = \"qdrant\"\n[hnsw]\nm = 32\n");
    let found = ProfileDef::Qdrant(q.clone()).problems(&target(TargetKind::Qdrant), false);
    assert!(
        found.len() == 1 && found[0].contains("keep to [search]"),
        "{found:?}"
    );
    let search: qdrant::spec::QdrantProfile = toml("store = \"qdrant\"\n[search]\nhnsw_ef = 64\n");
    assert!(
        ProfileDef::Qdrant(search)
            .problems(&target(TargetKind::Qdrant), false)
            .is_empty()
    );
    assert!(
        ProfileDef::Qdrant(q)
            .problems(&target(TargetKind::Qdrant), true)
            .is_empty()
    );
}

#[tokio::test]
async fn a_restart_without_a_restart_command_is_an_error_not_a_panic() {
    let t = target(TargetKind::Postgres);
    let e = run_restart_command(&t, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), 3, "{e}");
    assert!(e.to_string().contains("restart_command is not set"), "{e}");
    let mut t = target(TargetKind::Postgres);
    t.restart_command = Some("exit 7".into());
    let e = run_restart_command(&t, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("failed"), "{e}");
}

#[test]
fn each_kind_holds_its_datasets_and_checks_its_urls() {
    assert!(TargetKind::Postgres.url_fits("postgres://u:p@h:5432/db"));
    assert!(!TargetKind::Postgres.url_fits("http://h:5432"));
    assert!(TargetKind::Neo4j.url_fits("bolt://h:7687"));
    assert!(!TargetKind::S3.url_fits("http://key:secret@h:9000"));
    assert!(TargetKind::Http.url_fits("http://h:8080/api"));
    assert!(!TargetKind::Http.url_fits("http://h:8080/?q=1"));
    assert!(
        TargetKind::Postgres
            .url_parse_problem("postgres://h:notaport/db")
            .is_some()
    );
    assert!(
        TargetKind::Http
            .load_profile(std::path::Path::new("x.toml"))
            .is_none()
    );
    for k in TargetKind::ALL {
        assert!(!k.url_expected().is_empty());
        assert!(!k.label().is_empty());
    }
}
