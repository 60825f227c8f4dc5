//! Configuration checks (`[[checks]]` in a scenario): facts about a server's configuration
//! that an optimization plan requires (pg_stat_statements enabled, every foreign key
//! indexed, bucket versioning on ...). They are evaluated under every profile, after its
//! workloads ran, and by `tunebench check` on the servers as they are.
//!
//! Each store declares its own checks in its `checks.rs` (names, fields, how they read and
//! how they are evaluated); this module holds what is common: the entry as written, the
//! by-store enum (one line per store that has checks) and the resolution of `[[checks]]`.

use serde::{Deserialize, Serialize};

use crate::backend::model::TargetKind;
use crate::backend::neo4j::NeoCheck;
use crate::backend::postgres::PgCheck;
use crate::backend::qdrant::QdrantCheck;
use crate::backend::s3::S3Check;
use crate::error::InputIssue;
use crate::source::SourceFile;

/// One `[[checks]]` entry as written: the target, the check's name, and the check's own
/// fields (read by the store whose check it is).
#[derive(Debug, Deserialize)]
pub struct CheckFile {
    target: String,
    check: String,
    #[serde(flatten)]
    fields: toml::Table,
}

/// What a check verifies, as the store it belongs to declares it. Serialized into
/// results.json as that store's check, e.g. `{"check": "slow_query_log", "max_ms": 100.0}`:
/// each store's enum is tagged by the check's name, and names differ across stores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CheckKind {
    Postgres(PgCheck),
    Neo4j(NeoCheck),
    S3(S3Check),
    Qdrant(QdrantCheck),
}

macro_rules! narrow {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl TryFrom<CheckKind> for $ty {
            type Error = CheckKind;
            fn try_from(v: CheckKind) -> Result<Self, CheckKind> {
                match v {
                    CheckKind::$variant(x) => Ok(x),
                    other => Err(other),
                }
            }
        })*
    };
}
narrow!(
    Postgres(PgCheck),
    Neo4j(NeoCheck),
    S3(S3Check),
    Qdrant(QdrantCheck)
);

/// A store without configuration checks (HTTP) takes none.
impl TryFrom<CheckKind> for std::convert::Infallible {
    type Error = CheckKind;
    fn try_from(v: CheckKind) -> Result<Self, CheckKind> {
        Err(v)
    }
}

/// A store's checks: their names, how `validate` lists them, and the parser of an entry.
struct StoreChecks {
    names: &'static [&'static str],
    help: &'static str,
    parse: fn(&str, &mut CheckFields<'_>) -> Option<CheckKind>,
}

/// The checks of each kind of target; one line per store that has checks.
fn of_store(kind: TargetKind) -> Option<StoreChecks> {
    use crate::backend::{neo4j, postgres, qdrant, s3};
    let (names, help, parse): (_, _, fn(&str, &mut CheckFields<'_>) -> Option<CheckKind>) =
        match kind {
            TargetKind::Postgres => (postgres::CHECK_NAMES, postgres::CHECK_HELP, |n, f| {
                postgres::parse_check(n, f).map(CheckKind::Postgres)
            }),
            TargetKind::Neo4j => (neo4j::CHECK_NAMES, neo4j::CHECK_HELP, |n, f| {
                neo4j::parse_check(n, f).map(CheckKind::Neo4j)
            }),
            TargetKind::S3 => (s3::CHECK_NAMES, s3::CHECK_HELP, |n, f| {
                s3::parse_check(n, f).map(CheckKind::S3)
            }),
            TargetKind::Qdrant => (qdrant::CHECK_NAMES, qdrant::CHECK_HELP, |n, f| {
                qdrant::parse_check(n, f).map(CheckKind::Qdrant)
            }),
            TargetKind::Http => return None,
        };
    Some(StoreChecks { names, help, parse })
}

impl CheckKind {
    pub fn store(&self) -> TargetKind {
        match self {
            CheckKind::Postgres(_) => TargetKind::Postgres,
            CheckKind::Neo4j(_) => TargetKind::Neo4j,
            CheckKind::S3(_) => TargetKind::S3,
            CheckKind::Qdrant(_) => TargetKind::Qdrant,
        }
    }

    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            CheckKind::Postgres(c) => c.expected(),
            CheckKind::Neo4j(c) => c.expected(),
            CheckKind::S3(c) => c.expected(),
            CheckKind::Qdrant(c) => c.expected(),
        }
    }

    /// The check as a report names it, e.g. `slow_query_log <= 100 ms`.
    pub fn text(&self) -> String {
        match self {
            CheckKind::Postgres(c) => c.text(),
            CheckKind::Neo4j(c) => c.text(),
            CheckKind::S3(c) => c.text(),
            CheckKind::Qdrant(c) => c.text(),
        }
    }
}

/// A resolved check: which target, what, and how it reads in a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigCheck {
    pub target: String,
    pub kind: CheckKind,
    /// e.g. `pg: slow_query_log <= 100 ms`.
    pub text: String,
}

/// A check entry's own fields, for its store's parser: each is taken once; what no parser
/// took does not apply to the check and is reported so.
pub struct CheckFields<'a> {
    src: &'a SourceFile,
    /// `checks[I]`.
    field: String,
    table: toml::Table,
    issues: &'a mut Vec<InputIssue>,
}

impl CheckFields<'_> {
    fn take(&mut self, name: &str) -> Option<toml::Value> {
        self.table.remove(name)
    }

    /// Reports `message` about the entry's field `name`.
    pub fn problem(&mut self, name: &str, message: impl Into<String>) {
        let at = format!("{}.{name}", self.field);
        self.issues.push(self.src.issue(&at, message));
    }

    fn wrong(&mut self, name: &str, what: &str) {
        self.problem(name, format!("must be {what}"));
    }

    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            toml::Value::String(s) => Some(s),
            _ => {
                self.wrong(name, "a string");
                None
            }
        }
    }

    pub fn float(&mut self, name: &str) -> Option<f64> {
        match self.take(name)? {
            toml::Value::Float(f) => Some(f),
            toml::Value::Integer(i) => Some(i as f64),
            _ => {
                self.wrong(name, "a number");
                None
            }
        }
    }

    pub fn int(&mut self, name: &str) -> Option<i64> {
        match self.take(name)? {
            toml::Value::Integer(i) => Some(i),
            _ => {
                self.wrong(name, "a whole number");
                None
            }
        }
    }

    /// A whole number in `range`, reported when out of it.
    pub fn uint(&mut self, name: &str, max: u32) -> Option<u32> {
        let v = self.int(name)?;
        match u32::try_from(v) {
            Ok(v) if v <= max => Some(v),
            _ => {
                self.problem(name, format!("{v} is out of range (0 to {max})"));
                None
            }
        }
    }

    /// A ratio between 0 and 1 (`default` when absent).
    pub fn ratio(&mut self, name: &str, default: f64) -> Option<f64> {
        let v = self.float(name).unwrap_or(default);
        if (0.0..=1.0).contains(&v) {
            Some(v)
        } else {
            self.problem(
                name,
                format!("{v} is not a ratio; write a fraction between 0 and 1 (0.9 = 90 %)"),
            );
            None
        }
    }

    pub fn strings(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name)? {
            toml::Value::Array(a) => {
                let out: Option<Vec<String>> = a
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect();
                if out.is_none() {
                    self.wrong(name, "a list of strings");
                }
                out
            }
            _ => {
                self.wrong(name, "a list of strings");
                None
            }
        }
    }
}

/// Every check name with its fields, by store, for messages.
fn valid() -> String {
    TargetKind::ALL
        .into_iter()
        .filter_map(|k| of_store(k).map(|s| format!("{}: {}", k.name(), s.help)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Resolves `[[checks]]`, reporting every problem with its field.
pub fn resolve(
    src: &SourceFile,
    files: Vec<CheckFile>,
    target_kind: impl Fn(&str) -> Option<TargetKind>,
    target_names: &[String],
    issues: &mut Vec<InputIssue>,
) -> Vec<ConfigCheck> {
    let mut out = Vec::new();
    for (i, c) in files.into_iter().enumerate() {
        let field = format!("checks[{i}]");
        let owner = TargetKind::ALL.into_iter().find_map(|k| {
            of_store(k)
                .filter(|s| s.names.contains(&c.check.as_str()))
                .map(|s| (k, s))
        });
        let Some((owner, store)) = owner else {
            issues.push(src.issue(
                &format!("{field}.check"),
                format!("unknown check `{}`; valid: {}", c.check, valid()),
            ));
            continue;
        };
        match target_kind(&c.target) {
            None => {
                issues.push(src.issue(
                    &format!("{field}.target"),
                    format!(
                        "`{}` is not a target of this scenario; targets: {}",
                        c.target,
                        target_names.join(", ")
                    ),
                ));
                continue;
            }
            Some(t) if t != owner => {
                issues.push(src.issue(
                    &format!("{field}.check"),
                    format!(
                        "`{}` is a {} check but target `{}` is kind = \"{}\"; valid checks: {}",
                        c.check,
                        owner.name(),
                        c.target,
                        t.name(),
                        valid()
                    ),
                ));
                continue;
            }
            Some(_) => {}
        }
        let mut fields = CheckFields {
            src,
            field: field.clone(),
            table: c.fields,
            issues,
        };
        let kind = (store.parse)(&c.check, &mut fields);
        let left: Vec<String> = fields.table.keys().cloned().collect();
        for name in left {
            issues.push(src.issue(
                &format!("{field}.{name}"),
                format!("does not apply to check `{}`", c.check),
            ));
        }
        if let Some(kind) = kind {
            out.push(ConfigCheck {
                text: format!("{}: {}", c.target, kind.text()),
                target: c.target,
                kind,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[[checks]]` entries (TOML) resolved against one target of each kind.
    fn resolve_text(entries: &str) -> (Vec<ConfigCheck>, Vec<String>) {
        #[derive(Deserialize)]
        struct F {
            checks: Vec<CheckFile>,
        }
        let src = SourceFile::new("s.toml", entries);
        let f: F = src.parse().unwrap();
        let kinds = |t: &str| match t {
            "pg" => Some(TargetKind::Postgres),
            "neo" => Some(TargetKind::Neo4j),
            "s3" => Some(TargetKind::S3),
            "qd" => Some(TargetKind::Qdrant),
            "web" => Some(TargetKind::Http),
            _ => None,
        };
        let mut issues = Vec::new();
        let out = resolve(&src, f.checks, kinds, &["pg".into()], &mut issues);
        (out, issues.iter().map(|i| i.to_string()).collect())
    }

    #[test]
    fn every_check_a_store_names_is_read_by_it() {
        for kind in TargetKind::ALL {
            let Some(store) = of_store(kind) else {
                continue;
            };
            let target = match kind {
                TargetKind::Postgres => "pg",
                TargetKind::Neo4j => "neo",
                TargetKind::S3 => "s3",
                TargetKind::Qdrant => "qd",
                TargetKind::Http => continue,
            };
            for name in store.names {
                let extra = match *name {
                    "property_indexes" => "\nproperties = [\"L.p\"]",
                    "lifecycle" => "\nexpire_days = 90",
                    _ => "",
                };
                let (out, issues) = resolve_text(&format!(
                    "[[checks]]\ntarget = \"{target}\"\ncheck = \"{name}\"{extra}\n"
                ));
                assert!(issues.is_empty(), "{name}: {issues:?}");
                assert_eq!(out.len(), 1, "{name}");
                assert_eq!(out[0].kind.store(), kind, "{name}");
                assert!(
                    out[0].text.starts_with(&format!("{target}: {name}")),
                    "{}",
                    out[0].text
                );
                assert!(store.help.contains(name), "{name} missing from the help");
            }
        }
    }

    #[test]
    fn results_files_keep_the_shape_of_a_check() {
        for (json, kind) in [
            (
                r#"{"check":"slow_query_log","max_ms":100.0}"#,
                TargetKind::Postgres,
            ),
            (r#"{"check":"fk_indexes"}"#, TargetKind::Postgres),
            (
                r#"{"check":"property_indexes","properties":["L.p"]}"#,
                TargetKind::Neo4j,
            ),
            (r#"{"check":"lifecycle","expire_days":90}"#, TargetKind::S3),
            (
                r#"{"check":"hnsw","m":16,"ef_construct":100}"#,
                TargetKind::Qdrant,
            ),
        ] {
            let k: CheckKind = serde_json::from_str(json).unwrap();
            assert_eq!(k.store(), kind, "{json}");
            let back: serde_json::Value = serde_json::to_value(&k).unwrap();
            let want: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(back, want);
        }
        assert!(serde_json::from_str::<CheckKind>(r#"{"check":"nope"}"#).is_err());
        assert!(serde_json::from_str::<CheckKind>(r#"{"check":"hnsw","m":16}"#).is_err());
    }

    #[test]
    fn wrong_fields_kinds_and_names_are_located() {
        let (out, issues) = resolve_text(
            "[[checks]]\ntarget = \"pg\"\ncheck = \"fk_indexes\"\nmin = 0.5\n\n\
             [[checks]]\ntarget = \"pg\"\ncheck = \"hnsw\"\n\n\
             [[checks]]\ntarget = \"web\"\ncheck = \"versioning\"\n\n\
             [[checks]]\ntarget = \"qd\"\ncheck = \"hnsw\"\nm = -1\n\n\
             [[checks]]\ntarget = \"pg\"\ncheck = \"cache_hit_ratio\"\nmin = 2.0\n\n\
             [[checks]]\ntarget = \"nowhere\"\ncheck = \"fk_indexes\"\n",
        );
        let all = issues.join("\n");
        assert_eq!(issues.len(), 6, "{all}");
        assert!(issues[0].contains("checks[0].min") && issues[0].contains("does not apply"));
        assert!(issues[1].contains("is a qdrant check but target `pg`"));
        assert!(issues[2].contains("is a s3 check but target `web`"));
        assert!(issues[3].contains("checks[3].m") && issues[3].contains("out of range"));
        assert!(issues[4].contains("checks[4].min") && issues[4].contains("not a ratio"));
        assert!(issues[5].contains("checks[5].target"));
        // The out-of-range m takes its default; only the valid entries are kept.
        assert_eq!(out.len(), 2, "{out:?}");
    }
}
