//! One S3 worker: draws keys and ranges before the clock starts, then executes one
//! operation. Every GET of tunebench's own objects is compared byte for byte with what was
//! written; a GET of an object tunebench did not create is checked for its length.

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
use super::{S3Data, op_error};
use crate::dataset::objects::SCRATCH_PREFIX;
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
    /// `place`: the index of a listed bucket tunebench did not create (else the dataset's).
    Get {
        range: Option<u64>,
        place: Option<usize>,
    },
    Head {
        place: Option<usize>,
    },
    List {
        max_keys: i32,
        place: Option<usize>,
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
    /// The dataset's bucket (empty without a dataset).
    pub bucket: String,
    pub names: Vec<String>,
    pub ops: Vec<Op>,
    pub data: Arc<S3Data>,
    pub recorder: Arc<Recorder>,
}

impl Ops {
    /// The bucket and prefix an op reads: a listed one, or the dataset's.
    fn place(&self, place: Option<usize>) -> (&str, &str) {
        match place.and_then(|i| self.data.listed(i)) {
            Some(l) => (&l.place.bucket, &l.place.prefix),
            None => (&self.bucket, crate::dataset::objects::DATA_PREFIX),
        }
    }

    /// The objects an op draws from: the listing of its bucket, or the dataset's.
    fn objects(&self, place: Option<usize>) -> &[(String, u64)] {
        match place {
            Some(i) => self
                .data
                .listed(i)
                .and_then(|l| l.objects.get())
                .map_or(&[][..], Vec::as_slice),
            None => self.data.objects().map_or(&[][..], |o| &o.objects[..]),
        }
    }
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
    Object { key: String, size: u64 },
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
            Op::Get { range, place } => {
                let objects = self.ops.objects(place);
                if objects.is_empty() {
                    return Params::None;
                }
                let (key, size) = &objects[rng.random_range(0..objects.len())];
                let len = range.map_or(*size, |r| r.min(*size));
                let offset = rng.random_range(0..=size - len);
                Params::Range {
                    key: key.clone(),
                    offset,
                    len,
                }
            }
            Op::Head { place } => {
                let objects = self.ops.objects(place);
                if objects.is_empty() {
                    return Params::None;
                }
                let (key, size) = &objects[rng.random_range(0..objects.len())];
                Params::Object {
                    key: key.clone(),
                    size: *size,
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
                    .body(ByteStream::from(
                        o.data
                            .objects()
                            .map(|set| set.content(key, 0, *size))
                            .unwrap_or_default(),
                    ))
                    .send()
                    .await
                    .map_err(op_error)?;
                *size
            }
            (Op::Get { range, place }, Params::Range { key, offset, len }) => {
                get(
                    &self.client,
                    o,
                    &o.names[op],
                    *place,
                    key,
                    *offset,
                    *len,
                    range.is_some(),
                )
                .await?
            }
            (Op::Head { place }, Params::Object { key, size }) => {
                let (bucket, _) = o.place(*place);
                let r = self
                    .client
                    .head_object()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(op_error)?;
                if r.content_length() != Some(*size as i64) {
                    return Err(OpError {
                        kind: "size_changed".into(),
                        message: format!(
                            "{bucket}/{key}: {} bytes now, {size} when listed",
                            r.content_length().unwrap_or(-1)
                        ),
                    });
                }
                0
            }
            (Op::List { max_keys, place }, Params::None) => {
                let (bucket, prefix) = o.place(*place);
                let r = self
                    .client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(prefix)
                    .max_keys(*max_keys)
                    .send()
                    .await
                    .map_err(op_error)?;
                if r.contents().is_empty() {
                    return Err(OpError {
                        kind: "empty_listing".into(),
                        message: format!("listing of {bucket}/{prefix} returned no objects"),
                    });
                }
                0
            }
            (Op::Get { .. } | Op::Head { .. }, Params::None) => {
                return Err(OpError {
                    kind: "nothing_listed".into(),
                    message: format!("{}: no object to read was listed", o.names[op]),
                });
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

#[allow(clippy::too_many_arguments)]
async fn get(
    client: &Client,
    o: &Ops,
    op_name: &str,
    place: Option<usize>,
    key: &str,
    offset: u64,
    len: u64,
    ranged: bool,
) -> Result<u64, OpError> {
    let started = Instant::now();
    let (bucket, _) = o.place(place);
    // tunebench's own objects are compared byte for byte; another bucket's only counted.
    let own = place.is_none().then(|| o.data.objects()).flatten();
    let mut req = client.get_object().bucket(bucket).key(key);
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
        if pos + chunk.len() as u64 > offset + len {
            return Err(OpError {
                kind: "long_read".into(),
                message: format!("{bucket}/{key}: more than the {len} bytes listed"),
            });
        }
        if own.is_some_and(|set| !set.verify(key, pos, &chunk)) {
            return Err(OpError {
                kind: "checksum_mismatch".into(),
                message: format!(
                    "{bucket}/{key}: bytes from offset {pos} differ from what tunebench wrote (corrupted or overwritten object)"
                ),
            });
        }
        pos += chunk.len() as u64;
    }
    if pos != offset + len {
        return Err(OpError {
            kind: "short_read".into(),
            message: format!("{bucket}/{key}: got {} of {len} bytes", pos - offset),
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
                    .body(ByteStream::from(
                        o.data
                            .objects()
                            .map(|set| set.content(key, start, len))
                            .unwrap_or_default(),
                    ))
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
