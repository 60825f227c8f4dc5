//! Configuration checks on an S3 bucket, read back with the bucket configuration calls.

use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

use super::bucket;
use crate::backend::checks::CheckFields;
use crate::backend::facts::CheckOutcome;
use crate::backend::model::Target;
use crate::error::Result;

/// S3's configuration checks, on the datasets' buckets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum S3Check {
    /// Bucket versioning is Enabled.
    Versioning,
    /// A lifecycle rule expires current objects after exactly `expire_days`.
    Lifecycle { expire_days: i32 },
    /// A bucket policy is set.
    BucketPolicy,
}

pub const CHECK_NAMES: &[&str] = &["versioning", "lifecycle", "bucket_policy"];
pub const CHECK_HELP: &str = "versioning, lifecycle (expire_days), bucket_policy";

/// Reads a `[[checks]]` entry named `name` (one of `CHECK_NAMES`).
pub fn parse_check(name: &str, f: &mut CheckFields<'_>) -> Option<S3Check> {
    Some(match name {
        "versioning" => S3Check::Versioning,
        "bucket_policy" => S3Check::BucketPolicy,
        "lifecycle" => match f.int("expire_days").map(i32::try_from) {
            Some(Ok(d)) if d >= 1 => S3Check::Lifecycle { expire_days: d },
            _ => {
                f.problem(
                    "expire_days",
                    "is required: the days after which the rule must expire objects, e.g. 90",
                );
                return None;
            }
        },
        _ => return None,
    })
}

impl S3Check {
    /// What passing means, in words.
    pub fn expected(&self) -> String {
        match self {
            S3Check::Versioning => "bucket versioning Enabled".into(),
            S3Check::Lifecycle { expire_days } => {
                format!("a lifecycle rule expiring objects after {expire_days} days")
            }
            S3Check::BucketPolicy => "a bucket policy is set".into(),
        }
    }

    /// How a report names it.
    pub fn text(&self) -> String {
        match self {
            S3Check::Versioning => "versioning".into(),
            S3Check::Lifecycle { expire_days } => format!("lifecycle expire_days = {expire_days}"),
            S3Check::BucketPolicy => "bucket_policy".into(),
        }
    }
}

pub async fn check(
    client: &Client,
    target: &Target,
    buckets: &[String],
    kind: &S3Check,
) -> Result<CheckOutcome> {
    if buckets.is_empty() {
        return Ok(CheckOutcome::not_evaluated(
            "no objects dataset on this target, so no bucket to check",
        ));
    }
    let mut fails = Vec::new();
    let mut seen = Vec::new();
    for b in buckets {
        if client.head_bucket().bucket(b).send().await.is_err() {
            fails.push(format!("{b}: bucket missing or not readable"));
            continue;
        }
        let c = bucket::read_config(client, target, b).await?;
        let (ok, what) = match kind {
            S3Check::Versioning => (
                c.versioning == "Enabled",
                format!("versioning {}", c.versioning),
            ),
            S3Check::Lifecycle { expire_days } => {
                let rules: Vec<String> = c
                    .lifecycle
                    .iter()
                    .map(|r| {
                        format!(
                            "{} (expire {})",
                            r.id,
                            r.expire_days.map_or("-".into(), |d| format!("{d} d"))
                        )
                    })
                    .collect();
                (
                    c.lifecycle
                        .iter()
                        .any(|r| r.expire_days == Some(*expire_days)),
                    if rules.is_empty() {
                        "no lifecycle rules".into()
                    } else {
                        format!("rules: {}", rules.join(", "))
                    },
                )
            }
            S3Check::BucketPolicy => (
                c.policy.is_some(),
                if c.policy.is_some() {
                    "policy set".into()
                } else {
                    "no policy".into()
                },
            ),
        };
        seen.push(format!("{b}: {what}"));
        if !ok {
            fails.push(format!("{b}: {what}"));
        }
    }
    let mut o = CheckOutcome::judged(fails.is_empty(), seen.join("; "), Vec::new());
    if o.actual.is_empty() {
        o.actual = fails.join("; ");
    }
    // With one bucket the finding already says it all.
    o.details = if buckets.len() > 1 { fails } else { Vec::new() };
    Ok(o)
}
