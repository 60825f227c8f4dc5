//! Worker shards on other machines (Kubernetes: `deploy/kubernetes/`) meet the coordinator
//! through an S3 prefix. The coordinator (`run --workers N --rendezvous s3://B/P`) applies a
//! profile, writes a plan for it (profile, trials, common start), waits for every shard's
//! part, merges, reverts, and writes the next plan, or `done.json` at the end. Each worker
//! (`worker --shard I/N --rendezvous s3://B/P`) takes the plans in order, measures, and
//! uploads its part. The prefix is the run's own: a coordinator refuses one that already
//! holds anything.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::results::Results;

/// How often plans and parts are looked for.
const POLL: Duration = Duration::from_millis(500);

/// One block of the run for every shard: a profile (applied by the coordinator) and trials.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub block: u32,
    /// The scenario's name, so a worker given another scenario refuses.
    pub scenario: String,
    pub profile: String,
    pub trials: Vec<u32>,
    pub shards: u32,
    pub start_at: DateTime<Utc>,
}

pub struct Rendezvous {
    client: Client,
    endpoint: String,
    bucket: String,
    prefix: String,
}

impl Rendezvous {
    /// `s3://BUCKET/PREFIX` (a prefix is required: it is the run's own), with the
    /// TUNEBENCH_S3_* variables.
    pub fn parse(text: &str, flag: &str) -> Result<Self> {
        let usage = |why: &str| {
            Error::Usage(format!(
                "{flag} `{text}`: {why}; give s3://BUCKET/PREFIX, a prefix of this run's own"
            ))
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| usage("not an s3:// address"))?;
        let (bucket, prefix) = rest
            .split_once('/')
            .ok_or_else(|| usage("no prefix after the bucket"))?;
        let prefix = prefix.trim_end_matches('/');
        if !crate::history::valid_bucket(bucket) {
            return Err(usage(
                "the bucket name is not valid (3-63 lowercase letters, digits, '-' or '.')",
            ));
        }
        if prefix.is_empty() {
            return Err(usage("no prefix after the bucket"));
        }
        let (client, endpoint) = crate::history::s3::client(flag)?;
        Ok(Rendezvous {
            client,
            endpoint,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn fail<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
        &self,
        what: &str,
        key: &str,
        e: &aws_sdk_s3::error::SdkError<E, R>,
    ) -> Error {
        Error::target(
            "rendezvous",
            format!(
                "{what} {} at {}: {} (check the bucket and {})",
                self.url(key),
                self.endpoint,
                crate::backend::s3::describe(e),
                crate::history::s3::VARS
            ),
        )
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.fail("writing", key, &e))?;
        Ok(())
    }

    /// The object, or None when there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| {
                    Error::target("rendezvous", format!("reading {}: {e}", self.url(key)))
                })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(self.fail("reading", key, &e)),
        }
    }

    async fn list(&self, under: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(under)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.fail("listing", under, &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(String::from),
            );
        }
        Ok(keys)
    }

    fn plan_key(&self, block: u32) -> String {
        format!("{}/plan-{block:04}.json", self.prefix)
    }

    fn done_key(&self) -> String {
        format!("{}/done.json", self.prefix)
    }

    fn parts_of(&self, block: u32) -> String {
        format!("{}/parts/{block:04}/", self.prefix)
    }

    /// Coordinator, before anything: the prefix must be empty (the run's own).
    pub async fn refuse_used(&self) -> Result<()> {
        let under = format!("{}/", self.prefix);
        let keys = self.list(&under).await?;
        if let Some(k) = keys.first() {
            return Err(Error::Usage(format!(
                "--rendezvous {}: already holds {} object(s) (e.g. {k}), from another run; give each run its own prefix",
                self.url(&under),
                keys.len()
            )));
        }
        Ok(())
    }

    pub async fn publish(&self, plan: &Plan) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(plan).expect("a plan serializes");
        self.put(&self.plan_key(plan.block), bytes).await
    }

    /// Coordinator, at the end (also after a failure): workers waiting for a plan stop.
    pub async fn finish(&self) -> Result<()> {
        self.put(&self.done_key(), b"{}".to_vec()).await
    }

    /// Worker: the plan of `block`, or None once the coordinator said it is done; an error
    /// past `deadline`.
    pub async fn next_plan(&self, block: u32, deadline: Instant) -> Result<Option<Plan>> {
        let key = self.plan_key(block);
        loop {
            if let Some(bytes) = self.get(&key).await? {
                let plan = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::target(
                        "rendezvous",
                        format!("{} is not a tunebench plan: {e}", self.url(&key)),
                    )
                })?;
                return Ok(Some(plan));
            }
            if self.get(&self.done_key()).await?.is_some() {
                return Ok(None);
            }
            if Instant::now() >= deadline {
                return Err(Error::target(
                    "rendezvous",
                    format!(
                        "no plan at {} and no done.json before the wait ended; is the coordinator running with this prefix?",
                        self.url(&key)
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Worker: its part of `block`.
    pub async fn upload_part(
        &self,
        block: u32,
        shard: u32,
        results: &std::path::Path,
    ) -> Result<()> {
        let bytes = std::fs::read(results).map_err(|e| Error::io(results, e))?;
        let key = format!("{}{shard:04}/results.json", self.parts_of(block));
        self.put(&key, bytes).await
    }

    /// Coordinator: every shard's part of `block`, once all are there; an error naming the
    /// missing shards past `deadline`.
    pub async fn wait_parts(
        &self,
        block: u32,
        shards: u32,
        deadline: Instant,
    ) -> Result<Vec<(PathBuf, Results)>> {
        let under = self.parts_of(block);
        loop {
            let keys = self.list(&under).await?;
            let have: Vec<u32> = (0..shards)
                .filter(|i| keys.contains(&format!("{under}{i:04}/results.json")))
                .collect();
            if have.len() == shards as usize {
                let mut parts = Vec::new();
                for i in 0..shards {
                    let key = format!("{under}{i:04}/results.json");
                    let label = self.url(&key);
                    let bytes = self.get(&key).await?.unwrap_or_default();
                    let text = String::from_utf8_lossy(&bytes);
                    parts.push((
                        PathBuf::from(&label),
                        Results::parse(&text, std::path::Path::new(&label))?,
                    ));
                }
                return Ok(parts);
            }
            if Instant::now() >= deadline {
                let missing: Vec<String> = (0..shards)
                    .filter(|i| !have.contains(i))
                    .map(|i| i.to_string())
                    .collect();
                return Err(Error::target(
                    "rendezvous",
                    format!(
                        "shard(s) {} of {shards} sent no part to {} in time; see their logs",
                        missing.join(", "),
                        self.url(&under)
                    ),
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// How long one block's phases take by plan: every workload's warm-up and trials, each
/// after the phase gap.
pub fn planned_length(
    load: &crate::scenario::Load,
    workloads: usize,
    trials: usize,
    gap: Duration,
) -> Duration {
    let warm = if load.warmup.is_zero() {
        Duration::ZERO
    } else {
        gap + load.warmup
    };
    let per_workload = warm + (gap + load.duration) * trials as u32;
    per_workload * workloads as u32
}
