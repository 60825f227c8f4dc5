//! A profile's bucket configuration: what it asks for on top of the bucket's, what revert
//! restores, what differs when read back, and the changes the report lists.

use std::collections::BTreeSet;

use crate::backend::facts::{SettingChange, TargetChanges};
use crate::backend::model::Target;
use crate::backend::s3::BucketConfig;
use crate::backend::s3::spec::S3Profile;

/// What the profile asks for, on top of the bucket's current configuration.
pub fn wanted(before: &BucketConfig, p: &S3Profile) -> BucketConfig {
    let mut want = before.clone();
    if let Some(v) = &p.versioning {
        want.versioning = if v == "enabled" {
            "Enabled"
        } else {
            "Suspended"
        }
        .into();
    }
    if !p.lifecycle.is_empty() {
        let ids: BTreeSet<&str> = p.lifecycle.iter().map(|r| r.id.as_str()).collect();
        want.lifecycle.retain(|r| !ids.contains(r.id.as_str()));
        want.lifecycle.extend(p.lifecycle.iter().cloned());
    }
    if let Some(policy) = &p.policy {
        want.policy = serde_json::from_str(&policy.replace("${bucket}", &before.bucket)).ok();
    }
    want
}

/// What revert must find: the captured configuration, except that S3 cannot return a
/// bucket to "never versioned": versioning that was never on comes back as Suspended.
pub fn restored(before: &BucketConfig, applied: &BucketConfig) -> BucketConfig {
    let mut r = before.clone();
    if before.versioning == "Unversioned" && applied.versioning != "Unversioned" {
        r.versioning = "Suspended".into();
    }
    r
}

/// Differences between two configurations, as readable lines.
pub fn differences(want: &BucketConfig, got: &BucketConfig) -> Vec<String> {
    let mut out = Vec::new();
    if want.versioning != got.versioning {
        out.push(format!(
            "versioning is {} (expected {})",
            got.versioning, want.versioning
        ));
    }
    if want.lifecycle != got.lifecycle {
        out.push(format!(
            "lifecycle is {:?} (expected {:?})",
            got.lifecycle, want.lifecycle
        ));
    }
    if want.policy != got.policy {
        out.push(format!(
            "policy is {} (expected {})",
            got.policy.as_ref().map_or("none".into(), |p| p.to_string()),
            want.policy
                .as_ref()
                .map_or("none".into(), |p| p.to_string())
        ));
    }
    out
}

/// The profile's changes as setting lines for the report.
pub fn changes(
    t: &Target,
    file: &str,
    p: &S3Profile,
    before: &BucketConfig,
    after: &BucketConfig,
) -> TargetChanges {
    let mut settings = Vec::new();
    let mut line = |name: &str, requested: String, b: String, a: String, context: &str| {
        settings.push(SettingChange {
            name: name.into(),
            requested,
            before: b,
            after: a,
            context: context.into(),
        })
    };
    let lc = |c: &BucketConfig| {
        c.lifecycle
            .iter()
            .map(|r| {
                format!(
                    "{}: expire {:?} d, noncurrent {:?} d, abort incomplete {:?} d",
                    r.id, r.expire_days, r.noncurrent_days, r.abort_incomplete_days
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    if let Some(v) = &p.versioning {
        line(
            "versioning",
            v.clone(),
            before.versioning.clone(),
            after.versioning.clone(),
            "bucket",
        );
    }
    if !p.lifecycle.is_empty() {
        line(
            "lifecycle",
            format!("{} rule(s)", p.lifecycle.len()),
            lc(before),
            lc(after),
            "bucket",
        );
    }
    if p.policy.is_some() {
        let show = |c: &BucketConfig| c.policy.as_ref().map_or("none".into(), |p| p.to_string());
        line("policy", "set".into(), show(before), show(after), "bucket");
    }
    if let Some(ps) = &p.client.part_size {
        line(
            "part_size",
            ps.clone(),
            "workload's".into(),
            ps.clone(),
            "client",
        );
    }
    if let Some(n) = p.client.parts_in_flight {
        line(
            "parts_in_flight",
            n.to_string(),
            "workload's".into(),
            n.to_string(),
            "client",
        );
    }
    TargetChanges {
        target: t.name.clone(),
        profile_file: file.to_string(),
        description: p.description.clone(),
        settings,
        indexes: Vec::new(),
        restarted: false,
    }
}

/// The profile applied: what revert needs; journaled before each change (see
/// `backend::journal`).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct AppliedS3 {
    pub before: BucketConfig,
    pub applied: BucketConfig,
    pub changes: TargetChanges,
    pub server: Option<super::server::ServerApplied>,
}
