//! The property graph: users, documents, topics and entities joined by FOLLOWS, AUTHORED,
//! MENTIONS and TAGGED. Popularity follows a Zipf law, so in-degrees are power-law
//! distributed (a few hub users, topics and entities, a long tail of cold ones); out-degrees
//! are Pareto-distributed. Every node and its outgoing edges are a pure function of
//! (seed, id), so parameters are drawn from exactly the graph that was loaded.

use fake::Fake;
use fake::faker::address::en::CityName;
use fake::faker::company::en::{CatchPhrase, CompanyName};
use fake::faker::lorem::en::Word;
use fake::faker::name::en::Name;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::GENERATOR_VERSION;

/// Labels of the graph. Fixed and `Tunebench`-prefixed, so tunebench only ever touches
/// nodes under labels of its own; workloads name them in their Cypher.
pub const USER: &str = "TunebenchUser";
pub const DOCUMENT: &str = "TunebenchDocument";
pub const TOPIC: &str = "TunebenchTopic";
pub const ENTITY: &str = "TunebenchEntity";
/// The one node recording which graph is loaded (spec hash) and whether it is complete.
pub const MANIFEST: &str = "TunebenchManifest";
pub const LABELS: [&str; 4] = [USER, DOCUMENT, TOPIC, ENTITY];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub kind: super::DatasetKind,
    pub seed: u64,
    pub users: u64,
    pub documents: u64,
    pub topics: u64,
    pub entities: u64,
    /// Mean FOLLOWS per user (out-degree, Pareto-distributed).
    #[serde(default = "default_follows")]
    pub follows_per_user: f64,
    /// Mean MENTIONS per document.
    #[serde(default = "default_mentions")]
    pub mentions_per_document: f64,
    /// Mean TAGGED per document (at least 1 each).
    #[serde(default = "default_tags")]
    pub tags_per_document: f64,
    /// Zipf exponent of popularity (in-degree skew); 1.0 is a typical social graph.
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    /// Rows per UNWIND batch when loading.
    #[serde(default = "default_batch")]
    pub batch_size: u32,
}

fn default_follows() -> f64 {
    12.0
}
fn default_mentions() -> f64 {
    6.0
}
fn default_tags() -> f64 {
    3.0
}
fn default_zipf() -> f64 {
    1.0
}
fn default_batch() -> u32 {
    5000
}

impl GraphSpec {
    /// Stable identity of the generated graph: equal hashes mean identical nodes and edges.
    pub fn hash(&self) -> String {
        let mut canonical = self.clone();
        // The batch size changes how the graph is loaded, not what is loaded.
        canonical.batch_size = 0;
        let text = serde_json::to_string(&canonical).expect("spec serializes");
        let digest = Sha256::digest(format!("graph-v{GENERATOR_VERSION}:{text}").as_bytes());
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    pub fn nodes(&self) -> u64 {
        self.users + self.documents + self.topics + self.entities
    }

    /// Checks the fields; returns (field, problem) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        for (field, v) in [
            ("users", self.users),
            ("documents", self.documents),
            ("topics", self.topics),
            ("entities", self.entities),
        ] {
            if v == 0 || v > 100_000_000 {
                p.push((field, "must be between 1 and 100000000".to_string()));
            }
        }
        if self.users < 2 {
            p.push((
                "users",
                "must be at least 2 so users can follow each other".into(),
            ));
        }
        for (field, v, max) in [
            ("follows_per_user", self.follows_per_user, 1000.0),
            ("mentions_per_document", self.mentions_per_document, 100.0),
            ("tags_per_document", self.tags_per_document, 50.0),
        ] {
            if !(v >= 0.0 && v <= max) {
                p.push((field, format!("must be between 0 and {max}")));
            }
        }
        if !(self.zipf_exponent > 0.0 && self.zipf_exponent <= 3.0) {
            p.push(("zipf_exponent", "must be in (0, 3]; 1.0 is typical".into()));
        }
        if !(100..=100_000).contains(&self.batch_size) {
            p.push(("batch_size", "must be between 100 and 100000 rows".into()));
        }
        p
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub uid: i64,
    pub handle: String,
    pub name: String,
    pub city: String,
    pub joined: i64,
}

#[derive(Debug, Clone)]
pub struct DocumentNode {
    pub doc_id: i64,
    pub title: String,
    pub year: i64,
    pub author: i64,
    pub mentions: Vec<i64>,
    pub topics: Vec<i64>,
}

/// How a Cypher parameter is drawn from the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphParam {
    /// The handle of one of the 1 % most-followed users (hub: large neighbourhood, cached).
    UserHot,
    /// The handle of a user from the least-followed half (small neighbourhood, rarely read).
    UserCold,
    /// Any user's handle, uniform.
    UserAny,
    /// Any document's doc_id (integer), uniform.
    DocumentId,
    /// The name of one of the 10 % most-used topics.
    TopicHot,
    /// Any topic's name, uniform.
    TopicAny,
    /// Any entity's name, uniform.
    EntityAny,
    /// A word of a random document's title (letters only), for full-text queries.
    TitleWord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GraphValue {
    Int(i64),
    Text(String),
}

const USER_SALT: u64 = 0x5553_4552;
const DOC_SALT: u64 = 0x444f_4353;
const TOPIC_SALT: u64 = 0x544f_5043;
const ENTITY_SALT: u64 = 0x454e_5459;

/// The generator of one graph spec.
pub struct Graph {
    spec: GraphSpec,
    users: Zipf<f64>,
    topics: Zipf<f64>,
    entities: Zipf<f64>,
}

impl Graph {
    pub fn new(spec: &GraphSpec) -> Self {
        let s = spec.zipf_exponent;
        Graph {
            users: Zipf::new(spec.users as f64, s).expect("validated"),
            topics: Zipf::new(spec.topics as f64, s).expect("validated"),
            entities: Zipf::new(spec.entities as f64, s).expect("validated"),
            spec: spec.clone(),
        }
    }

    pub fn spec(&self) -> &GraphSpec {
        &self.spec
    }

    fn rng(&self, salt: u64, id: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            self.spec.seed ^ salt.rotate_left(32) ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        )
    }

    /// Zipf rank 1 is the most popular: node ids are popularity ranks - 1.
    fn pick(dist: &Zipf<f64>, n: u64, rng: &mut ChaCha8Rng) -> i64 {
        ((dist.sample(rng) as u64).clamp(1, n) - 1) as i64
    }

    pub fn user(&self, uid: i64) -> User {
        let mut rng = self.rng(USER_SALT, uid as u64);
        let name: String = Name().fake_with_rng(&mut rng);
        let slug: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase();
        User {
            uid,
            // The uid suffix makes handles unique (the tuned profile's constraint holds).
            handle: format!("{slug}_{uid}"),
            name,
            city: CityName().fake_with_rng(&mut rng),
            joined: rng.random_range(2008..=2025),
        }
    }

    /// Users `uid` follows: Pareto out-degree (alpha 2), Zipf-chosen targets, no self-loops
    /// or duplicates.
    pub fn follows(&self, uid: i64) -> Vec<i64> {
        let mut rng = self.rng(USER_SALT ^ 0xF0, uid as u64);
        let mean = self.spec.follows_per_user;
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        // Pareto with alpha 2 has mean 2 * x_min.
        let degree = ((mean / 2.0) / u.sqrt()).min(mean * 50.0) as usize;
        let degree = degree.min(self.spec.users as usize - 1);
        let mut out = Vec::with_capacity(degree);
        let mut tries = 0;
        while out.len() < degree && tries < degree * 4 {
            tries += 1;
            let t = Self::pick(&self.users, self.spec.users, &mut rng);
            if t != uid && !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    pub fn document(&self, doc_id: i64) -> DocumentNode {
        let mut rng = self.rng(DOC_SALT, doc_id as u64);
        let phrase: String = CatchPhrase().fake_with_rng(&mut rng);
        let word: String = Word().fake_with_rng(&mut rng);
        let author = Self::pick(&self.users, self.spec.users, &mut rng);
        let n_mentions = draw_count(self.spec.mentions_per_document, &mut rng);
        let mut mentions = Vec::new();
        for _ in 0..n_mentions {
            let e = Self::pick(&self.entities, self.spec.entities, &mut rng);
            if !mentions.contains(&e) {
                mentions.push(e);
            }
        }
        let n_topics = draw_count(self.spec.tags_per_document, &mut rng).max(1);
        let mut topics = Vec::new();
        for _ in 0..n_topics {
            let t = Self::pick(&self.topics, self.spec.topics, &mut rng);
            if !topics.contains(&t) {
                topics.push(t);
            }
        }
        DocumentNode {
            doc_id,
            title: format!("{phrase} {word}"),
            year: rng.random_range(2010..=2025),
            author,
            mentions,
            topics,
        }
    }

    pub fn topic(&self, id: i64) -> String {
        let mut rng = self.rng(TOPIC_SALT, id as u64);
        let word: String = Word().fake_with_rng(&mut rng);
        format!("{word}-{id}")
    }

    pub fn entity(&self, id: i64) -> (String, &'static str) {
        let mut rng = self.rng(ENTITY_SALT, id as u64);
        let name: String = CompanyName().fake_with_rng(&mut rng);
        let kinds = ["company", "product", "place", "person"];
        (
            format!("{name} #{id}"),
            kinds[rng.random_range(0..kinds.len())],
        )
    }

    /// Draws one parameter value.
    pub fn draw(&self, p: GraphParam, rng: &mut ChaCha8Rng) -> GraphValue {
        let users = self.spec.users as i64;
        match p {
            GraphParam::UserHot => {
                GraphValue::Text(self.user(rng.random_range(0..(users / 100).max(1))).handle)
            }
            GraphParam::UserCold => {
                GraphValue::Text(self.user(rng.random_range(users / 2..users)).handle)
            }
            GraphParam::UserAny => GraphValue::Text(self.user(rng.random_range(0..users)).handle),
            GraphParam::DocumentId => {
                GraphValue::Int(rng.random_range(0..self.spec.documents as i64))
            }
            GraphParam::TopicHot => {
                let n = (self.spec.topics as i64 / 10).max(1);
                GraphValue::Text(self.topic(rng.random_range(0..n)))
            }
            GraphParam::TopicAny => {
                GraphValue::Text(self.topic(rng.random_range(0..self.spec.topics as i64)))
            }
            GraphParam::EntityAny => GraphValue::Text(
                self.entity(rng.random_range(0..self.spec.entities as i64))
                    .0,
            ),
            GraphParam::TitleWord => loop {
                let d = self.document(rng.random_range(0..self.spec.documents as i64));
                let words: Vec<&str> = d
                    .title
                    .split_whitespace()
                    .filter(|w| w.len() >= 4 && w.chars().all(|c| c.is_ascii_alphabetic()))
                    .collect();
                if !words.is_empty() {
                    break GraphValue::Text(words[rng.random_range(0..words.len())].to_string());
                }
            },
        }
    }
}

/// A count with the given mean: uniform over 0..=2*mean (rounded).
fn draw_count(mean: f64, rng: &mut ChaCha8Rng) -> usize {
    let hi = (mean * 2.0).round() as usize;
    rng.random_range(0..=hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> GraphSpec {
        GraphSpec {
            kind: super::super::DatasetKind::Graph,
            seed: 7,
            users: 2000,
            documents: 1000,
            topics: 50,
            entities: 200,
            follows_per_user: 10.0,
            mentions_per_document: 4.0,
            tags_per_document: 2.0,
            zipf_exponent: 1.0,
            batch_size: 500,
        }
    }

    #[test]
    fn generation_is_deterministic_and_unique() {
        let g = Graph::new(&spec());
        assert_eq!(g.user(5).handle, g.user(5).handle);
        assert_eq!(g.follows(9), g.follows(9));
        assert_eq!(g.document(3).title, g.document(3).title);
        let handles: std::collections::BTreeSet<String> =
            (0..2000).map(|i| g.user(i).handle).collect();
        assert_eq!(handles.len(), 2000);
    }

    #[test]
    fn in_degrees_are_skewed_toward_low_ids() {
        let g = Graph::new(&spec());
        let mut indeg = vec![0u32; 2000];
        let mut edges = 0;
        for u in 0..2000 {
            for t in g.follows(u) {
                indeg[t as usize] += 1;
                edges += 1;
            }
        }
        let mean = edges as f64 / 2000.0;
        assert!((5.0..15.0).contains(&mean), "mean out-degree {mean}");
        let hub: u32 = indeg[..20].iter().sum();
        let tail: u32 = indeg[1000..1020].iter().sum();
        assert!(hub > tail * 10, "hubs {hub} vs tail {tail}");
    }

    #[test]
    fn hash_ignores_batch_size_only() {
        let a = spec();
        let mut b = spec();
        b.batch_size = 1000;
        assert_eq!(a.hash(), b.hash());
        b.seed = 8;
        assert_ne!(a.hash(), b.hash());
    }
}
