//! One S3 worker: draws keys and ranges before the clock starts, then executes one
//! operation. Every GET is compared byte for byte with what was written.

use std::collections::VecDeque;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures_util::{StreamExt, TryStreamExt};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::metrics::Recorder;
use super::op_error;
use crate::dataset::objects::{ObjectSet, SCRATCH_PREFIX};
use crate::driver::{Done, Executor, OpError};

/// A workload op with its sizes resolved (and the profile's client tuning applied).
#[derive(Debug, Clone)]
pub enum Op {
    Multipart {
        object_size: u64,
        part_size: u64,
        parts_in_flight: u32,
    },
    Put {
        size: u64,
    },
    Get {
        range: Option<u64>,
    },
    List {
        max_keys: i32,
    },
    Delete,
}

/// Keys a worker cycles through per op, so scratch space stays bounded.
const SLOTS: u64 = 4;

/// What every worker of a workload shares; each worker builds its own client from it.
pub struct S3Workers {
    pub config: aws_sdk_s3::Config,
    pub ops: Arc<Ops>,
}

pub struct Ops {
    pub bucket: String,
    pub names: Vec<String>,
    pub ops: Vec<Op>,
    pub data: Arc<ObjectSet>,
    pub recorder: Arc<Recorder>,
}

pub struct S3Exec {
    client: Client,
    ops: Arc<Ops>,
    worker: u32,
    next: u64,
    /// Keys this worker wrote with `put` and has not deleted yet.
    written: VecDeque<String>,
}

pub enum Params {
    Key(String),
    Range { key: String, offset: u64, len: u64 },
    None,
}

impl S3Exec {
    pub fn new(client: Client, ops: Arc<Ops>, worker: u32) -> Self {
        S3Exec {
            client,
            ops,
            worker,
            next: 0,
            written: VecDeque::new(),
        }
    }

    fn scratch_key(&mut self, op: usize) -> String {
        self.next += 1;
        format!(
            "{SCRATCH_PREFIX}w{}/{}-{}",
            self.worker,
            self.ops.names[op],
            self.next % SLOTS
        )
    }
}

impl Executor for S3Exec {
    type Params = Params;

    fn draw(&mut self, op: usize, rng: &mut ChaCha8Rng) -> Params {
        match self.ops.ops[op] {
            Op::Multipart { .. } => Params::Key(self.scratch_key(op)),
            Op::Put { .. } => {
                let key = self.scratch_key(op);
                if !self.written.contains(&key) {
                    self.written.push_back(key.clone());
                }
                Params::Key(key)
            }
            Op::Get { range } => {
                let objects = &self.ops.data.objects;
                let (key, size) = &objects[rng.random_range(0..objects.len())];
                let len = range.map_or(*size, |r| r.min(*size));
                let offset = rng.random_range(0..=size - len);
                Params::Range {
                    key: key.clone(),
                    offset,
                    len,
                }
            }
            Op::List { .. } => Params::None,
            // With nothing of its own left, a DELETE of a missing key is still one DELETE
            // request (S3 answers 204 either way).
            Op::Delete => Params::Key(
                self.written
                    .pop_front()
                    .unwrap_or_else(|| format!("{SCRATCH_PREFIX}w{}/never-written", self.worker)),
            ),
        }
    }

    async fn execute(&mut self, op: usize, params: &Params) -> Result<Done, OpError> {
        let o = &self.ops;
        let bytes = match (&o.ops[op], params) {
            (
                Op::Multipart {
                    object_size,
                    part_size,
                    parts_in_flight,
                },
                Params::Key(key),
            ) => {
                multipart(
                    &self.client,
                    o,
                    key,
                    *object_size,
                    *part_size,
                    *parts_in_flight,
                )
                .await?;
                *object_size
            }
            (Op::Put { size }, Params::Key(key)) => {
                self.client
                    .put_object()
                    .bucket(&o.bucket)
                    .key(key)
                    .body(ByteStream::from(o.data.content(key, 0, *size)))
                    .send()
                    .await
                    .map_err(op_error)?;
                *size
            }
            (Op::Get { range }, Params::Range { key, offset, len }) => {
                get(
                    &self.client,
                    o,
                    &o.names[op],
                    key,
                    *offset,
                    *len,
                    range.is_some(),
                )
                .await?
            }
            (Op::List { max_keys }, Params::None) => {
                let r = self
                    .client
                    .list_objects_v2()
                    .bucket(&o.bucket)
                    .prefix(crate::dataset::objects::DATA_PREFIX)
                    .max_keys(*max_keys)
                    .send()
                    .await
                    .map_err(op_error)?;
                if r.contents().is_empty() {
                    return Err(OpError {
                        kind: "empty_listing".into(),
                        message: format!("listing of {}/data/ returned no objects", o.bucket),
                    });
                }
                0
            }
            (Op::Delete, Params::Key(key)) => {
                self.client
                    .delete_object()
                    .bucket(&o.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(op_error)?;
                0
            }
            _ => unreachable!("draw returns the params of its op"),
        };
        let multipart = matches!(o.ops[op], Op::Multipart { .. });
        // Multipart parts were counted in the series as they completed.
        o.recorder.add(if multipart { 0 } else { bytes }, 1);
        Ok(Done { bytes })
    }
}

async fn get(
    client: &Client,
    o: &Ops,
    op_name: &str,
    key: &str,
    offset: u64,
    len: u64,
    ranged: bool,
) -> Result<u64, OpError> {
    let started = Instant::now();
    let mut req = client.get_object().bucket(&o.bucket).key(key);
    if ranged {
        req = req.range(format!("bytes={offset}-{}", offset + len - 1));
    }
    let resp = req.send().await.map_err(op_error)?;
    // `send` returns once the headers are in: the first byte has arrived.
    o.recorder.ttfb(op_name, started.elapsed());
    let mut body = resp.body;
    let mut pos = offset;
    while let Some(chunk) = body.try_next().await.map_err(|e| OpError {
        kind: "read".into(),
        message: format!("reading {key}: {e}"),
    })? {
        if pos + chunk.len() as u64 > offset + len || !o.data.verify(key, pos, &chunk) {
            return Err(OpError {
                kind: "checksum_mismatch".into(),
                message: format!(
                    "{}/{key}: bytes from offset {pos} differ from what tunebench wrote (corrupted or overwritten object)",
                    o.bucket
                ),
            });
        }
        pos += chunk.len() as u64;
    }
    if pos != offset + len {
        return Err(OpError {
            kind: "short_read".into(),
            message: format!("{}/{key}: got {} of {len} bytes", o.bucket, pos - offset),
        });
    }
    Ok(len)
}

async fn multipart(
    client: &Client,
    o: &Ops,
    key: &str,
    size: u64,
    part_size: u64,
    in_flight: u32,
) -> Result<(), OpError> {
    let created = client
        .create_multipart_upload()
        .bucket(&o.bucket)
        .key(key)
        .send()
        .await
        .map_err(op_error)?;
    let id = created.upload_id().unwrap_or_default().to_string();
    // Registered until completed or aborted: an upload whose operation is dropped (timeout)
    // is aborted by the store after the phase, so no orphaned parts stay behind.
    o.recorder.upload_started(&id, key);
    let parts = size.div_ceil(part_size);
    let result = futures_util::stream::iter(0..parts)
        .map(|i| {
            let (start, id) = (i * part_size, id.as_str());
            let len = part_size.min(size - start);
            async move {
                let r = client
                    .upload_part()
                    .bucket(&o.bucket)
                    .key(key)
                    .upload_id(id)
                    .part_number(i as i32 + 1)
                    .body(ByteStream::from(o.data.content(key, start, len)))
                    .send()
                    .await
                    .map_err(op_error)?;
                o.recorder.add(len, 0);
                Ok::<_, OpError>(
                    CompletedPart::builder()
                        .part_number(i as i32 + 1)
                        .set_e_tag(r.e_tag().map(str::to_string))
                        .build(),
                )
            }
        })
        .buffer_unordered(in_flight as usize)
        .try_collect::<Vec<_>>()
        .await;
    let completed = match result {
        Ok(mut done) => {
            done.sort_by_key(|p| p.part_number());
            client
                .complete_multipart_upload()
                .bucket(&o.bucket)
                .key(key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(done))
                        .build(),
                )
                .send()
                .await
                .map(|_| ())
                .map_err(op_error)
        }
        Err(e) => Err(e),
    };
    if completed.is_err() {
        // Best effort here; the store sweeps whatever is still registered after the phase.
        if client
            .abort_multipart_upload()
            .bucket(&o.bucket)
            .key(key)
            .upload_id(&id)
            .send()
            .await
            .is_ok()
        {
            o.recorder.upload_finished(&id);
        }
    } else {
        o.recorder.upload_finished(&id);
    }
    completed
}
