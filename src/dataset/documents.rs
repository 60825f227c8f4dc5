//! The document corpus: Zipf-distributed vocabulary built from `fake` words, so some terms
//! are common and some rare, with every row a pure function of (seed, id).

use chrono::{DateTime, Utc};
use fake::Fake;
use fake::faker::company::en::CatchPhrase;
use fake::faker::internet::en::SafeEmail;
use fake::faker::name::en::Name;
use fake::locales::{Data, EN};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use serde::{Deserialize, Serialize};

use super::DocumentsSpec;
use super::params::{ParamGen, TermBand};

/// 2023-01-01T00:00:00Z: documents are spread over three years from here.
const START_UNIX_US: i64 = 1_672_531_200_000_000;
const SPAN_US: i64 = 3 * 365 * 24 * 3600 * 1_000_000;
const DAY_US: i64 = 24 * 3600 * 1_000_000;

// Distinct streams per entity kind, so author 5 and document 5 do not share randomness.
const AUTHOR_SALT: u64 = 0xA5;
const DOC_SALT: u64 = 0xD0C;
const COMMENT_SALT: u64 = 0xC0;

const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "da", "fu", "go", "hi", "ja", "ku", "le",
    "mo", "nu", "pa", "ri", "so", "te", "vu", "xe", "yo", "za", "bri", "cla", "dro", "fle", "gri",
    "plo", "sta", "tre", "vla", "qui", "sen", "mar", "tol", "wen",
];

#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Document {
    pub id: i64,
    pub author_id: i64,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub created_at_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: i64,
    pub document_id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at_us: i64,
}

/// A bound query parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    /// float8 (a parameter source's numbers).
    Float(f64),
    Time(DateTime<Utc>),
    Text(String),
    /// A query vector, bound as float4[] (the SQL casts it: `$1::vector`).
    Vector(Vec<f32>),
    /// int8[] and timestamptz[] (the arrays of an upsert batch).
    Ints(Vec<i64>),
    Times(Vec<DateTime<Utc>>),
}

/// Which words fall in each document-frequency band, with the expected fraction of documents
/// that contain them (from the Zipf law the corpus is drawn from).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermStats {
    pub band: TermBand,
    pub terms: usize,
    pub expected_doc_fraction_min: f64,
    pub expected_doc_fraction_max: f64,
}

pub struct Corpus {
    spec: DocumentsSpec,
    vocab: Vec<String>,
    words: Zipf<f64>,
    authors: Zipf<f64>,
    tags: Vec<String>,
    tag_dist: Zipf<f64>,
    bands: [Vec<usize>; 3],
    band_stats: Vec<TermStats>,
}

impl Corpus {
    pub fn new(spec: &DocumentsSpec) -> Self {
        let vocab = vocabulary(spec.vocabulary);
        let words = Zipf::new(vocab.len() as f64, spec.zipf_exponent).expect("validated exponent");
        let authors = Zipf::new(spec.authors as f64, 0.8).expect("authors >= 1");
        let tags: Vec<String> = dedup_words(EN::COMPANY_BUZZWORD_TAIL.iter().copied())
            .into_iter()
            .take(60)
            .collect();
        let tag_dist = Zipf::new(tags.len() as f64, 1.0).expect("tags exist");
        let (bands, band_stats) = term_bands(spec, &vocab);
        Corpus {
            spec: spec.clone(),
            vocab,
            words,
            authors,
            tags,
            tag_dist,
            bands,
            band_stats,
        }
    }

    pub fn spec(&self) -> &DocumentsSpec {
        &self.spec
    }

    pub fn term_stats(&self) -> &[TermStats] {
        &self.band_stats
    }

    fn rng(&self, salt: u64, id: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.spec.seed ^ salt.rotate_left(40));
        rng.set_stream(id);
        rng
    }

    fn word(&self, rng: &mut ChaCha8Rng) -> &str {
        let rank = self.words.sample(rng) as usize;
        &self.vocab[rank.clamp(1, self.vocab.len()) - 1]
    }

    fn sentence(&self, rng: &mut ChaCha8Rng, words: u32) -> String {
        let mut s = String::with_capacity(words as usize * 8);
        for i in 0..words {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.word(rng));
        }
        s
    }

    fn author_of(&self, rng: &mut ChaCha8Rng) -> i64 {
        (self.authors.sample(rng) as i64).clamp(1, self.spec.authors as i64)
    }

    pub fn author(&self, id: i64) -> Author {
        let mut rng = self.rng(AUTHOR_SALT, id as u64);
        Author {
            id,
            name: Name().fake_with_rng(&mut rng),
            email: format!("{id}.{}", SafeEmail().fake_with_rng::<String, _>(&mut rng)),
        }
    }

    pub fn document(&self, id: i64) -> Document {
        let mut rng = self.rng(DOC_SALT, id as u64);
        let author_id = self.author_of(&mut rng);
        let phrase: String = CatchPhrase().fake_with_rng(&mut rng);
        let title = format!("{phrase} {}", self.word(&mut rng));
        let [lo, hi] = self.spec.body_words;
        let len = rng.random_range(lo..=hi);
        let body = self.sentence(&mut rng, len);
        let ntags = rng.random_range(1..=3);
        let mut tags: Vec<String> = Vec::with_capacity(ntags);
        for _ in 0..ntags {
            let t =
                &self.tags[(self.tag_dist.sample(&mut rng) as usize).clamp(1, self.tags.len()) - 1];
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let created_at_us = START_UNIX_US + rng.random_range(0..SPAN_US);
        Document {
            id,
            author_id,
            title,
            body,
            tags,
            created_at_us,
        }
    }

    /// The comments of one document; ids are `document_id * 16 + n`, so documents can be
    /// generated (and loaded) in any order.
    pub fn comments(&self, doc: &Document) -> Vec<Comment> {
        let mut rng = self.rng(COMMENT_SALT, doc.id as u64);
        let n = rng.random_range(0..=self.spec.max_comments());
        (0..n)
            .map(|j| {
                let len = rng.random_range(8..=30);
                Comment {
                    id: doc.id * 16 + i64::from(j),
                    document_id: doc.id,
                    author_id: self.author_of(&mut rng),
                    body: self.sentence(&mut rng, len),
                    created_at_us: doc.created_at_us + rng.random_range(0..30 * DAY_US),
                }
            })
            .collect()
    }

    /// How many comments document `id` has, without generating them.
    pub fn comments_count(&self, id: i64) -> u64 {
        let mut rng = self.rng(COMMENT_SALT, id as u64);
        u64::from(rng.random_range(0..=self.spec.max_comments()))
    }

    /// Draws the bind values for one execution of an op.
    pub fn draw(
        &self,
        generators: &[ParamGen],
        rng: &mut impl rand::Rng,
        out: &mut Vec<ParamValue>,
    ) {
        out.clear();
        for g in generators {
            self.draw_one(*g, rng, out);
        }
    }

    /// Appends one generator's values.
    pub fn draw_one(&self, g: ParamGen, rng: &mut impl rand::Rng, out: &mut Vec<ParamValue>) {
        {
            match g {
                ParamGen::TermCommon => out.push(ParamValue::Text(
                    self.term(TermBand::Common, rng).to_string(),
                )),
                ParamGen::TermMedium => out.push(ParamValue::Text(
                    self.term(TermBand::Medium, rng).to_string(),
                )),
                ParamGen::TermRare => {
                    out.push(ParamValue::Text(self.term(TermBand::Rare, rng).to_string()))
                }
                ParamGen::Phrase => {
                    let doc = self.document(self.random_doc(rng));
                    let words: Vec<&str> = doc.body.split(' ').collect();
                    let i = rng.random_range(0..words.len().saturating_sub(1).max(1));
                    let second = words.get(i + 1).copied().unwrap_or("");
                    out.push(ParamValue::Text(
                        format!("\"{} {}\"", words[i], second).replace(" \"", "\""),
                    ));
                }
                ParamGen::Prefix => {
                    let term = self.term(TermBand::Medium, rng);
                    let cut = term.char_indices().nth(4).map_or(term.len(), |(i, _)| i);
                    out.push(ParamValue::Text(format!("{}:*", &term[..cut])));
                }
                ParamGen::TitleFragment => {
                    let doc = self.document(self.random_doc(rng));
                    let words: Vec<&str> = doc.title.split(' ').collect();
                    let take = words.len().min(2);
                    out.push(ParamValue::Text(words[..take].join(" ").to_lowercase()));
                }
                ParamGen::AuthorId => out.push(ParamValue::Int(self.author_of_any(rng))),
                ParamGen::DocumentId => out.push(ParamValue::Int(self.random_doc(rng))),
                // The scenario refuses vector parameters on a document corpus (validation),
                // so these never reach a corpus.
                ParamGen::QueryVector
                | ParamGen::QueryVectorCategory50
                | ParamGen::QueryVectorCategory10
                | ParamGen::QueryVectorCategory1
                | ParamGen::FreshPoints => {}
                ParamGen::DateWindow => {
                    let from = START_UNIX_US + rng.random_range(0..SPAN_US - 30 * DAY_US);
                    out.push(ParamValue::Time(us_to_time(from)));
                    out.push(ParamValue::Time(us_to_time(from + 30 * DAY_US)));
                }
            }
        }
    }

    fn random_doc(&self, rng: &mut impl rand::Rng) -> i64 {
        rng.random_range(1..=self.spec.documents as i64)
    }

    fn author_of_any(&self, rng: &mut impl rand::Rng) -> i64 {
        (self.authors.sample(rng) as i64).clamp(1, self.spec.authors as i64)
    }

    fn term(&self, band: TermBand, rng: &mut impl rand::Rng) -> &str {
        let ranks = &self.bands[band as usize];
        &self.vocab[ranks[rng.random_range(0..ranks.len())]]
    }
}

pub fn us_to_time(unix_us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(unix_us).expect("corpus dates are in range")
}

fn dedup_words<'a>(phrases: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for phrase in phrases {
        for w in phrase.split([' ', '-', '/']) {
            let w = w.to_lowercase();
            if w.len() >= 2 && w.chars().all(|c| c.is_ascii_lowercase()) && seen.insert(w.clone()) {
                out.push(w);
            }
        }
    }
    out
}

/// `fake`'s lorem and buzzword words first (the most frequent ranks), then pronounceable
/// made-up words, unique by construction, up to `size`.
fn vocabulary(size: usize) -> Vec<String> {
    let mut vocab = dedup_words(
        EN::LOREM_WORD
            .iter()
            .chain(EN::COMPANY_BUZZWORD_HEAD)
            .chain(EN::COMPANY_BUZZWORD_MIDDLE)
            .chain(EN::COMPANY_BUZZWORD_TAIL)
            .copied(),
    );
    let mut seen: std::collections::BTreeSet<String> = vocab.iter().cloned().collect();
    let mut n = SYLLABLES.len() * SYLLABLES.len();
    while vocab.len() < size {
        let mut word = String::new();
        let mut k = n;
        while k > 0 {
            word.push_str(SYLLABLES[k % SYLLABLES.len()]);
            k /= SYLLABLES.len();
        }
        n += 1;
        if seen.insert(word.clone()) {
            vocab.push(word);
        }
    }
    vocab.truncate(size);
    vocab
}

/// Chooses the words of each band from their expected document frequency under the Zipf law:
/// common 10-50 % of documents, medium 0.5-2 %, rare in about 3-30 documents. Words shorter
/// than 4 letters are skipped (English stop words would never match).
fn term_bands(spec: &DocumentsSpec, vocab: &[String]) -> ([Vec<usize>; 3], Vec<TermStats>) {
    let s = spec.zipf_exponent;
    let harmonic: f64 = (1..=vocab.len()).map(|r| (r as f64).powf(-s)).sum();
    let mean_len = f64::from(spec.body_words[0] + spec.body_words[1]) / 2.0;
    let n = spec.documents as f64;
    let df = |rank: usize| 1.0 - (1.0 - (rank as f64).powf(-s) / harmonic).powf(mean_len);
    let ranges = [(0.10, 0.50), (0.005, 0.02), (3.0 / n, 30.0 / n)];
    let mut bands: [Vec<usize>; 3] = Default::default();
    let mut stats = Vec::new();
    for (b, (lo, hi)) in ranges.iter().enumerate() {
        let mut chosen: Vec<usize> = (0..vocab.len())
            .filter(|&i| vocab[i].len() >= 4 && (*lo..=*hi).contains(&df(i + 1)))
            .collect();
        if chosen.is_empty() {
            // A small corpus may leave a band empty: take the word closest to the band.
            let target = (lo * hi).sqrt();
            let best = (0..vocab.len())
                .filter(|&i| vocab[i].len() >= 4)
                .min_by(|&a, &c| {
                    (df(a + 1) - target)
                        .abs()
                        .total_cmp(&(df(c + 1) - target).abs())
                })
                .expect("vocabulary has long words");
            chosen.push(best);
        }
        chosen.truncate(500);
        let fractions: Vec<f64> = chosen.iter().map(|&i| df(i + 1)).collect();
        stats.push(TermStats {
            band: [TermBand::Common, TermBand::Medium, TermBand::Rare][b],
            terms: chosen.len(),
            expected_doc_fraction_min: fractions.iter().copied().fold(f64::INFINITY, f64::min),
            expected_doc_fraction_max: fractions.iter().copied().fold(0.0, f64::max),
        });
        bands[b] = chosen;
    }
    (bands, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::DatasetKind;

    fn spec(documents: u64) -> DocumentsSpec {
        DocumentsSpec {
            kind: DatasetKind::Documents,
            schema: "tunebench_t".into(),
            seed: 7,
            authors: 50,
            documents,
            comments_per_document: 2.0,
            vocabulary: 5000,
            zipf_exponent: 1.0,
            body_words: [20, 40],
        }
    }

    #[test]
    fn rows_are_pure_functions_of_seed_and_id() {
        let a = Corpus::new(&spec(1000));
        let b = Corpus::new(&spec(1000));
        assert_eq!(a.document(17).body, b.document(17).body);
        assert_eq!(a.author(3).email, b.author(3).email);
        assert_ne!(a.document(17).body, a.document(18).body);
        let mut other = spec(1000);
        other.seed = 8;
        assert_ne!(Corpus::new(&other).document(17).body, a.document(17).body);
    }

    #[test]
    fn bands_have_the_selectivity_they_claim() {
        let c = Corpus::new(&spec(4000));
        let docs: Vec<Document> = (1..=4000).map(|i| c.document(i)).collect();
        let frac = |w: &str| {
            docs.iter()
                .filter(|d| d.body.split(' ').any(|x| x == w))
                .count() as f64
                / 4000.0
        };
        let common = &c.vocab[c.bands[0][0]];
        let rare = &c.vocab[c.bands[2][0]];
        assert!(
            frac(common) > 0.05,
            "common term {common} in {}",
            frac(common)
        );
        assert!(frac(rare) < 0.01, "rare term {rare} in {}", frac(rare));
    }

    #[test]
    fn vocabulary_is_unique_and_sized() {
        let v = vocabulary(3000);
        assert_eq!(v.len(), 3000);
        let set: std::collections::BTreeSet<_> = v.iter().collect();
        assert_eq!(set.len(), 3000);
    }

    #[test]
    fn comments_fit_their_id_space() {
        let c = Corpus::new(&spec(100));
        for id in 1..=100 {
            let d = c.document(id);
            for cm in c.comments(&d) {
                assert_eq!(cm.id / 16, id);
                assert!(cm.created_at_us >= d.created_at_us);
            }
        }
    }
}
