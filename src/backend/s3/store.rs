//! [`Store`] for S3 / MinIO.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;

use super::S3Data;
use super::bucket;
use super::evidence::S3Snapshot;
use super::exec::{Op, Ops, S3Exec, S3Workers};
use super::metrics::{Recorder, scrape};
use super::profile::{self, AppliedS3};
use super::target_error;
use crate::backend::Store;
use crate::backend::facts::{
    DatasetReport, PoolReport, ReadinessCheck, RevertReport, TargetChanges, TargetEnv,
};
use crate::backend::model::{Dataset, Target};
use crate::backend::s3::S3Evidence;
use crate::backend::s3::spec::{S3Op, S3Profile};
use crate::dataset::DatasetSpec;
use crate::dataset::objects::{ObjectSet, SCRATCH_PREFIX};
use crate::error::{Error, Result};
use crate::source::parse_size;

/// This store's workloads and profile files.
type Workload = crate::backend::model::Workload<S3Op>;
type AppliedFile = crate::backend::model::AppliedFile<S3Profile>;

pub struct S3Store {
    target: Target,
    options: super::spec::S3Target,
    client: Client,
    recorder: Arc<Recorder>,
    /// The applied profile's client tuning, used by the next workers.
    tuning: crate::backend::s3::spec::S3Profile,
    /// The bucket of the dataset (one per target).
    bucket: Option<String>,
}

fn empty_tuning() -> S3Profile {
    S3Profile {
        store: crate::backend::model::TargetKind::S3,
        description: String::new(),
        versioning: None,
        policy: None,
        lifecycle: Vec::new(),
        client: Default::default(),
        server: Default::default(),
    }
}

impl S3Store {
    fn bucket(&self) -> Result<&str> {
        self.bucket.as_deref().ok_or_else(|| {
            Error::Usage(format!(
                "target {} has no objects dataset, so there is no bucket to configure",
                self.target.name
            ))
        })
    }

    /// Aborts multipart uploads whose operation was dropped (timed out).
    async fn sweep(&self) -> u64 {
        let mut n = 0;
        for (id, key) in self.recorder.take_pending() {
            if let Some(b) = &self.bucket
                && self
                    .client
                    .abort_multipart_upload()
                    .bucket(b)
                    .key(&key)
                    .upload_id(&id)
                    .send()
                    .await
                    .is_ok()
            {
                n += 1;
            }
        }
        n
    }
}

impl Store for S3Store {
    type Check = super::S3Check;
    type TargetOptions = super::spec::S3Target;
    type Op = S3Op;
    type Profile = S3Profile;
    type Exec = S3Exec;
    type Data = S3Data;
    type Applied = AppliedS3;
    type Snapshot = S3Snapshot;
    type Evidence = S3Evidence;
    type Workers = S3Workers;

    async fn connect(target: &Target, options: super::spec::S3Target) -> Result<Self> {
        let client = super::client(target, &options);
        // Checks the endpoint and the keys at once.
        client
            .list_buckets()
            .send()
            .await
            .map_err(|e| target_error(target, "connecting (ListBuckets)", e))?;
        Ok(S3Store {
            target: target.clone(),
            options,
            client,
            recorder: Arc::new(Recorder::new()),
            tuning: empty_tuning(),
            bucket: None,
        })
    }

    async fn environment(&self) -> Result<TargetEnv> {
        let t = &self.target;
        // MinIO reports its release in its metrics; another S3 server is named as such.
        let version = super::metrics::server_version(&t.url)
            .await
            .unwrap_or_else(|e| format!("S3 API (version unknown: {e})"));
        Ok(TargetEnv {
            kind: "s3".into(),
            url: t.url_redacted.clone(),
            server_version: version,
            non_default_settings: Default::default(),
            pool: PoolReport::configured(t, 0),
        })
    }

    async fn prepare(&mut self, dataset: &Dataset) -> Result<(DatasetReport, Arc<S3Data>)> {
        let DatasetSpec::Objects(spec) = &dataset.spec else {
            return Err(Error::Usage(format!(
                "dataset {} is not kind = \"objects\", which an s3 target needs",
                dataset.name
            )));
        };
        let started = std::time::Instant::now();
        let set = ObjectSet::new(spec);
        bucket::ensure_owned(&self.client, &self.target, &spec.bucket).await?;
        let loaded = bucket::load(&self.client, &self.target, &set, dataset).await?;
        self.bucket = Some(spec.bucket.clone());
        let secs = started.elapsed().as_secs_f64();
        let report = DatasetReport {
            name: dataset.name.clone(),
            target: dataset.target.clone(),
            schema: spec.bucket.clone(),
            spec_hash: spec.hash(),
            loaded,
            rows: [
                ("objects".to_string(), set.objects.len() as u64),
                ("bytes".to_string(), set.total_bytes()),
            ]
            .into(),
            load_seconds: loaded.then_some(secs),
            load_rows_per_s: loaded.then(|| set.objects.len() as f64 / secs),
            load_rates: Default::default(),
            term_bands: Vec::new(),
        };
        Ok((report, Arc::new(S3Data::Objects(set))))
    }

    async fn apply(
        &mut self,
        file: &AppliedFile,
        _data: Option<&S3Data>,
        _host_memory: u64,
        journal: &crate::backend::journal::Journal,
    ) -> Result<AppliedS3> {
        let p = file.profile.clone();
        let name = file.file.display().to_string();
        let bucket = self.bucket()?.to_string();
        bucket::check_owned(&self.client, &self.target, &bucket).await?;
        // Everything read first and journaled, before the first change.
        let mut server = match p.server.parity {
            Some(want) => {
                Some(super::server::plan(&self.target, &self.options, &name, want).await?)
            }
            None => None,
        };
        let before = bucket::read_config(&self.client, &self.target, &bucket).await?;
        let want = profile::wanted(&before, &p);
        let planned = AppliedS3 {
            changes: profile::changes(&self.target, &name, &p, &before, &want),
            before: before.clone(),
            applied: want.clone(),
            server,
        };
        record(&self.client, &self.target, journal, &planned).await?;
        server = planned.server;
        // The server first: a restart must not happen under an applied bucket config we
        // could not then revert.
        if let Some(s) = server.as_mut()
            && let Err(e) = super::server::apply(&self.target, s).await
        {
            // Put the line back and check the parity; the journal stays if that fails.
            if super::server::revert(&self.target, &self.options, s)
                .await
                .is_ok()
            {
                journal.clear()?;
            }
            return Err(e);
        }
        if let Err(e) = bucket::write_config(&self.client, &self.target, &want).await {
            let server_back = match &server {
                Some(s) => super::server::revert(&self.target, &self.options, s)
                    .await
                    .is_ok(),
                None => true,
            };
            // Undo our own partial work before reporting.
            let bucket_back = bucket::write_config(
                &self.client,
                &self.target,
                &profile::restored(&before, &want),
            )
            .await
            .is_ok();
            if server_back && bucket_back {
                journal.clear()?;
            }
            return Err(e);
        }
        let after = bucket::read_config(&self.client, &self.target, &bucket).await?;
        let diff = profile::differences(&want, &after);
        let mut changes = profile::changes(&self.target, &name, &p, &before, &after);
        if let Some(s) = &server {
            changes.settings.push(crate::backend::facts::SettingChange {
                name: "MINIO_STORAGE_CLASS_STANDARD (parity of new objects)".into(),
                requested: format!("EC:{}", p.server.parity.unwrap_or_default()),
                before: format!("EC:{}", s.before_parity),
                after: format!("EC:{}", s.after_parity),
                context: "server (restart)".into(),
            });
            changes.restarted = true;
        }
        self.tuning = p;
        let applied = AppliedS3 {
            before,
            applied: after,
            changes,
            server,
        };
        record(&self.client, &self.target, journal, &applied).await?;
        if !diff.is_empty() {
            if self.revert(applied).await.is_ok() {
                journal.clear()?;
            }
            return Err(Error::target(
                format!(
                    "target {}: applying {}",
                    self.target.name,
                    file.file.display()
                ),
                format!("the bucket did not take the profile: {}", diff.join("; ")),
            ));
        }
        Ok(applied)
    }

    fn changes(applied: &AppliedS3) -> TargetChanges {
        applied.changes.clone()
    }

    async fn revert(&mut self, applied: AppliedS3) -> Result<RevertReport> {
        self.tuning = empty_tuning();
        self.sweep().await;
        let bucket = applied.before.bucket.clone();
        // Workload scratch objects (and their versions) are ours; the dataset stays.
        bucket::purge(&self.client, &self.target, &bucket, SCRATCH_PREFIX).await?;
        let want = profile::restored(&applied.before, &applied.applied);
        bucket::write_config(&self.client, &self.target, &want).await?;
        let got = bucket::read_config(&self.client, &self.target, &bucket).await?;
        let mut mismatches = profile::differences(&want, &got);
        if let Some(s) = &applied.server {
            mismatches.extend(super::server::revert(&self.target, &self.options, s).await?);
        }
        super::journal::delete(&self.client, &self.target, &bucket).await?;
        Ok(RevertReport {
            target: self.target.name.clone(),
            kept: false,
            settings_restored: applied
                .changes
                .settings
                .iter()
                .filter(|s| s.context != "client")
                .map(|s| s.name.clone())
                .collect(),
            indexes_dropped: Vec::new(),
            restarted: applied.server.is_some(),
            mismatches,
        })
    }

    async fn readiness(
        &self,
        data: &S3Data,
        file: Option<&AppliedFile>,
    ) -> Result<Vec<ReadinessCheck>> {
        let t = &self.target;
        let set = match data {
            S3Data::Objects(set) => set,
            S3Data::Foreign(places) => {
                // Each bucket and prefix listed once per run, before any clock; GET and HEAD
                // draw their objects (and sizes) from it.
                let mut checks = Vec::new();
                for l in places {
                    let (b, p) = (&l.place.bucket, &l.place.prefix);
                    if l.objects.get().is_none() {
                        let listed =
                            bucket::list(&self.client, t, b, p, super::spec::MAX_LISTED).await?;
                        let _ = l.objects.set(listed);
                    }
                    let n = l.objects.get().map_or(0, Vec::len);
                    checks.push(ReadinessCheck {
                        target: t.name.clone(),
                        check: format!("objects in {b}/{p}"),
                        expected: "at least 1".into(),
                        actual: n.to_string(),
                        ok: n > 0,
                    });
                }
                return Ok(checks);
            }
        };
        let bucket = &set.spec.bucket;
        let n = bucket::count(
            &self.client,
            t,
            bucket,
            crate::dataset::objects::DATA_PREFIX,
        )
        .await?;
        let mut checks = vec![ReadinessCheck {
            target: t.name.clone(),
            check: format!("objects in {bucket}/data/"),
            expected: set.objects.len().to_string(),
            actual: n.to_string(),
            ok: n == set.objects.len() as u64,
        }];
        if let Some(p) = file.map(|f| &f.profile) {
            let got = bucket::read_config(&self.client, t, bucket).await?;
            if let Some(v) = &p.versioning {
                let want = if v == "enabled" {
                    "Enabled"
                } else {
                    "Suspended"
                };
                checks.push(ReadinessCheck {
                    target: t.name.clone(),
                    check: format!("{bucket} versioning"),
                    expected: want.into(),
                    actual: got.versioning.clone(),
                    ok: got.versioning == want,
                });
            }
            for r in &p.lifecycle {
                let found = got.lifecycle.iter().find(|g| g.id == r.id);
                checks.push(ReadinessCheck {
                    target: t.name.clone(),
                    check: format!("{bucket} lifecycle rule {}", r.id),
                    expected: format!("{r:?}"),
                    actual: found.map_or("absent".into(), |g| format!("{g:?}")),
                    ok: found == Some(r),
                });
            }
            if p.policy.is_some() {
                checks.push(ReadinessCheck {
                    target: t.name.clone(),
                    check: format!("{bucket} bucket policy"),
                    expected: "set".into(),
                    actual: if got.policy.is_some() { "set" } else { "none" }.into(),
                    ok: got.policy.is_some(),
                });
            }
        }
        Ok(checks)
    }

    fn own_data(&self, workloads: &[Workload]) -> Result<Option<Arc<S3Data>>> {
        let places: std::collections::BTreeSet<super::spec::Place> = workloads
            .iter()
            .filter(|w| w.dataset.is_none())
            .flat_map(|w| w.ops.iter().filter_map(|o| o.def.place()))
            .collect();
        Ok((!places.is_empty()).then(|| {
            Arc::new(S3Data::Foreign(
                places
                    .into_iter()
                    .map(|place| super::Listed {
                        place,
                        objects: std::sync::OnceLock::new(),
                    })
                    .collect(),
            ))
        }))
    }

    fn new_evidence() -> S3Evidence {
        S3Evidence::default()
    }

    async fn explain(&self, _w: &Workload, data: &S3Data, e: &mut S3Evidence) -> Result<()> {
        // A bucket tunebench did not create: its configuration is not read (only its objects).
        let S3Data::Objects(set) = data else {
            return Ok(());
        };
        if e.bucket.is_none() {
            e.bucket =
                Some(bucket::read_config(&self.client, &self.target, &set.spec.bucket).await?);
        }
        Ok(())
    }

    async fn snapshot(&self, workload: &Workload, _e: &S3Evidence) -> Result<S3Snapshot> {
        // Called right before and right after a measured phase, when no operation is in
        // flight: anything still registered was dropped by a timeout.
        let aborted = self.sweep().await;
        let (series, ttfb) = self.recorder.take();
        let scratch = match &self.bucket {
            Some(b) => Some(bucket::scratch_counts(&self.client, &self.target, b).await?),
            None => None,
        };
        let metrics = scrape(&self.target.url).await;
        // Last, so second 0 of the series starts with the phase, not with our listing.
        self.recorder.begin();
        Ok(S3Snapshot {
            workload: workload.name.clone(),
            metrics,
            series,
            ttfb: ttfb.into_iter().collect(),
            scratch,
            aborted,
        })
    }

    fn accumulate(after: &S3Snapshot, before: &S3Snapshot, ev: &mut S3Evidence) {
        ev.accumulate(after, before);
    }

    async fn workers(
        &self,
        workload: &Workload,
        data: Arc<S3Data>,
        _n: u32,
        _op_timeout: Duration,
    ) -> Result<S3Workers> {
        let tuning = &self.tuning.client;
        let place_of = |op: &S3Op| -> Option<usize> {
            let want = op.place()?;
            match &*data {
                S3Data::Foreign(places) => places.iter().position(|l| l.place == want),
                S3Data::Objects(_) => None,
            }
        };
        let ops = workload
            .ops
            .iter()
            .map(|o| {
                let op = &o.def;
                let size = |s: &str| parse_size(s).expect("validated");
                Ok(match op {
                    S3Op::MultipartUpload {
                        object_size,
                        part_size,
                        parts_in_flight,
                    } => Op::Multipart {
                        object_size: size(object_size),
                        part_size: size(tuning.part_size.as_deref().unwrap_or(part_size)),
                        parts_in_flight: tuning.parts_in_flight.unwrap_or(*parts_in_flight),
                    },
                    S3Op::Put { size: s } => Op::Put { size: size(s) },
                    S3Op::Get { range, .. } => Op::Get {
                        range: range.as_deref().map(size),
                        place: place_of(op),
                    },
                    S3Op::Head { .. } => Op::Head {
                        place: place_of(op),
                    },
                    S3Op::List { max_keys, .. } => Op::List {
                        max_keys: *max_keys,
                        place: place_of(op),
                    },
                    S3Op::Delete => Op::Delete,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let shared = Arc::new(Ops {
            bucket: data
                .objects()
                .map(|set| set.spec.bucket.clone())
                .unwrap_or_default(),
            names: workload.ops.iter().map(|o| o.name.clone()).collect(),
            ops,
            data,
            recorder: self.recorder.clone(),
        });
        Ok(S3Workers {
            config: self.client.config().clone(),
            ops: shared,
        })
    }

    async fn open(w: Arc<S3Workers>, i: u32) -> Result<S3Exec> {
        Ok(S3Exec::new(super::own_pool(&w.config), w.ops.clone(), i))
    }

    async fn drill(
        &self,
        drill: &crate::backend::drill::Drill,
        data: &S3Data,
        run: &crate::backend::drill::DrillRun<'_>,
    ) -> Result<crate::backend::drill::DrillReport> {
        use crate::backend::drill::DrillMethod;
        let Some(set) = data.objects() else {
            return Err(Error::Usage(format!(
                "drill {}: target {} has no objects dataset to mirror",
                drill.name, self.target.name
            )));
        };
        match drill.method {
            DrillMethod::Mirror => {
                super::drill::mirror(&self.client, &self.target, drill, &set.spec.bucket, run).await
            }
            m => Err(Error::Usage(format!(
                "drill {}: `{}` is not a drill method of an s3 target",
                drill.name,
                m.name()
            ))),
        }
    }

    async fn drill_leftovers(&self, own: bool) {
        let who = format!("target {}", self.target.name);
        super::drill::remove_leftovers(&self.client, &self.target, &who, own).await;
    }

    async fn check(
        &self,
        check: &super::S3Check,
        datasets: &[&Dataset],
        _evidence: Option<&S3Evidence>,
    ) -> Result<crate::backend::facts::CheckOutcome> {
        let buckets: Vec<String> = datasets
            .iter()
            .map(|d| d.spec.namespace().to_string())
            .collect();
        super::checks::check(&self.client, &self.target, &buckets, check).await
    }

    async fn journal_on_server(
        &self,
    ) -> Result<Vec<std::result::Result<crate::backend::journal::Entry, String>>> {
        super::journal::list(&self.client, &self.target).await
    }
}

/// Journals `applied` in the cache and on the server, before the change it announces.
async fn record(
    client: &aws_sdk_s3::Client,
    target: &crate::backend::model::Target,
    journal: &crate::backend::journal::Journal,
    applied: &AppliedS3,
) -> Result<()> {
    let entry = journal.record(applied, &applied.changes)?;
    super::journal::put(client, target, &applied.before.bucket, &entry).await
}
