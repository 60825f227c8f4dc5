//! Configuration checks on an S3 bucket, read back with the bucket configuration calls.

use aws_sdk_s3::Client;

use super::bucket;
use crate::backend::checks::CheckKind;
use crate::backend::facts::CheckOutcome;
use crate::backend::model::Target;
use crate::error::Result;

pub async fn check(
    client: &Client,
    target: &Target,
    buckets: &[String],
    kind: &CheckKind,
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
            CheckKind::Versioning => (
                c.versioning == "Enabled",
                format!("versioning {}", c.versioning),
            ),
            CheckKind::Lifecycle { expire_days } => {
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
            CheckKind::BucketPolicy => (
                c.policy.is_some(),
                if c.policy.is_some() {
                    "policy set".into()
                } else {
                    "no policy".into()
                },
            ),
            other => {
                return Ok(CheckOutcome::not_evaluated(format!(
                    "`{}` is not an S3 check",
                    other.expected()
                )));
            }
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
