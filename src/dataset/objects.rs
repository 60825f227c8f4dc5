//! Object datasets for S3 stores: how many objects, their sizes, and their content.
//!
//! Content is never stored on disk: every byte of every object is a window into one block
//! of ChaCha8 output generated from the seed, starting at an offset derived from the key.
//! That makes it incompressible (so MinIO cannot shrink it), deterministic (the same key
//! always has the same bytes), and cheap to regenerate for any range, so every GET can be
//! checked byte for byte against what was written.

use bytes::Bytes;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{DatasetKind, GENERATOR_VERSION};
use crate::error::{Error, Result};
use crate::source::{SourceFile, parse_size};

/// Length of the random block. Objects longer than this repeat it, which still defeats
/// MinIO's S2 compression (its window is far smaller).
pub const BLOCK: usize = 64 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ObjectsSpec {
    pub kind: DatasetKind,
    /// Must start with `tunebench-`: the only buckets tunebench creates or changes.
    pub bucket: String,
    pub seed: u64,
    pub objects: u64,
    /// Object sizes and their relative weights.
    pub sizes: Vec<SizeWeight>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SizeWeight {
    pub size: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

impl ObjectsSpec {
    pub fn hash(&self) -> String {
        let canonical = serde_json::to_string(self).expect("spec serializes");
        let digest = Sha256::digest(format!("v{GENERATOR_VERSION}:{canonical}").as_bytes());
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }
}

/// The objects of a dataset: keys, sizes and the content generator.
pub struct ObjectSet {
    pub spec: ObjectsSpec,
    /// (key, size) of every dataset object, in order.
    pub objects: Vec<(String, u64)>,
    block: Bytes,
}

/// Prefix of the dataset's objects; workloads write only under [`SCRATCH_PREFIX`].
pub const DATA_PREFIX: &str = "data/";
pub const SCRATCH_PREFIX: &str = "scratch/";

impl ObjectSet {
    pub fn new(spec: &ObjectsSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        // Twice the block, so any window of up to BLOCK bytes is one contiguous slice.
        let mut buf = vec![0u8; 2 * BLOCK];
        rng.fill_bytes(&mut buf[..BLOCK]);
        let (a, b) = buf.split_at_mut(BLOCK);
        b.copy_from_slice(a);
        let sizes: Vec<u64> = spec
            .sizes
            .iter()
            .map(|s| parse_size(&s.size).expect("validated"))
            .collect();
        let pick = WeightedIndex::new(spec.sizes.iter().map(|s| s.weight)).expect("validated");
        let objects = (0..spec.objects)
            .map(|i| (format!("{DATA_PREFIX}{i:08}"), sizes[pick.sample(&mut rng)]))
            .collect();
        ObjectSet {
            spec: spec.clone(),
            objects,
            block: Bytes::from(buf),
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.1).sum()
    }

    /// `len` bytes of `key`'s content from `offset`, zero-copy when `len <= BLOCK`.
    pub fn content(&self, key: &str, offset: u64, len: u64) -> Bytes {
        let start = ((key_offset(key) + offset) % BLOCK as u64) as usize;
        if len as usize <= BLOCK {
            self.block.slice(start..start + len as usize)
        } else {
            let mut v = Vec::with_capacity(len as usize);
            let mut pos = offset;
            while pos < offset + len {
                let n = (offset + len - pos).min(BLOCK as u64);
                v.extend_from_slice(&self.content(key, pos, n));
                pos += n;
            }
            Bytes::from(v)
        }
    }

    /// Checks that `chunk`, found at `offset` of `key`, is what was written there.
    pub fn verify(&self, key: &str, offset: u64, chunk: &[u8]) -> bool {
        let mut pos = 0usize;
        while pos < chunk.len() {
            let n = (chunk.len() - pos).min(BLOCK);
            if self.content(key, offset + pos as u64, n as u64) != chunk[pos..pos + n] {
                return false;
            }
            pos += n;
        }
        true
    }
}

/// Where `key`'s content starts in the block (FNV-1a of the key).
fn key_offset(key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3);
    }
    h % BLOCK as u64
}

/// tunebench's own bucket on an S3 target, for its journal of applied profiles (see
/// `backend::s3::journal`); no dataset may use it.
pub const JOURNAL_BUCKET: &str = "tunebench-journal";

/// Why tunebench may not create and use a bucket of this name as a dataset's, if it may not:
/// `tunebench-` and S3's bucket naming rules, and not tunebench's own journal bucket.
pub fn bucket_problem(name: &str) -> Option<String> {
    let valid = name.starts_with("tunebench-")
        && (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        return Some(format!(
            "`{name}`: the bucket must start with tunebench- and use lowercase letters, digits and - only (3..63 characters), so tunebench never touches a bucket it did not create"
        ));
    }
    (name == JOURNAL_BUCKET).then(|| {
        format!(
            "`{name}` holds tunebench's journal of applied profiles; choose another tunebench- name"
        )
    })
}

pub(super) fn load_objects(src: &SourceFile, table: toml::Table) -> Result<ObjectsSpec> {
    let spec: ObjectsSpec = super::spec_from(src, table)?;
    let mut issues = Vec::new();
    if let Some(why) = bucket_problem(&spec.bucket) {
        issues.push(src.issue("bucket", why));
    }
    if spec.objects == 0 || spec.objects > 1_000_000 {
        issues.push(src.issue("objects", "must be between 1 and 1,000,000"));
    }
    if spec.sizes.is_empty() {
        issues.push(src.issue(
            "sizes",
            "list at least one size, e.g. sizes = [{ size = \"1MiB\", weight = 1 }]",
        ));
    }
    for (i, s) in spec.sizes.iter().enumerate() {
        match parse_size(&s.size) {
            Some(v) if v > 0 && v <= 5 << 30 => {}
            _ => issues.push(src.issue(
                &format!("sizes[{i}].size"),
                format!(
                    "`{}`: a size between 1 byte and 5GiB, e.g. \"1MiB\"",
                    s.size
                ),
            )),
        }
        if s.weight == 0 {
            issues.push(src.issue(&format!("sizes[{i}].weight"), "must be at least 1"));
        }
    }
    if issues.is_empty() {
        Ok(spec)
    } else {
        Err(Error::Input(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ObjectsSpec {
        ObjectsSpec {
            kind: DatasetKind::Objects,
            bucket: "tunebench-t".into(),
            seed: 7,
            objects: 10,
            sizes: vec![SizeWeight {
                size: "1KiB".into(),
                weight: 1,
            }],
        }
    }

    #[test]
    fn content_is_deterministic_random_and_verifiable() {
        let a = ObjectSet::new(&spec());
        let b = ObjectSet::new(&spec());
        assert_eq!(a.content("k", 10, 100), b.content("k", 10, 100));
        assert_ne!(a.content("k", 0, 100), a.content("j", 0, 100));
        // A range is the same bytes as the same part of the whole.
        let whole = a.content("k", 0, 3000);
        assert_eq!(&whole[1000..1500], &a.content("k", 1000, 500)[..]);
        // Longer than the block: wraps around, still verifiable.
        let big = a.content("k", BLOCK as u64 - 10, 20);
        assert!(a.verify("k", BLOCK as u64 - 10, &big));
        let mut bad = whole.to_vec();
        bad[2999] ^= 1;
        assert!(!a.verify("k", 0, &bad));
        // Incompressible enough: byte values spread over the whole range.
        let distinct: std::collections::BTreeSet<u8> = whole.iter().copied().collect();
        assert!(distinct.len() > 250);
        assert_eq!(a.objects.len(), 10);
    }

    #[test]
    fn bucket_names() {
        assert_eq!(bucket_problem("tunebench-objects"), None);
        for bad in ["objects", "tunebench-Objects", "tunebench-"] {
            assert!(
                bucket_problem(bad)
                    .unwrap()
                    .contains("must start with tunebench-")
            );
        }
        assert!(
            bucket_problem("tunebench-journal")
                .unwrap()
                .contains("journal")
        );
    }
}
