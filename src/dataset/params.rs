//! How workload parameters are drawn from a dataset: the generators a workload names and
//! the seed that makes every profile draw the same sequence.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TermBand {
    Common,
    Medium,
    Rare,
}

/// How a parameter is drawn from the corpus, so selectivity is controlled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamGen {
    /// A word from a document-frequency band (text).
    TermCommon,
    TermMedium,
    TermRare,
    /// Two adjacent words of a random document, quoted for websearch_to_tsquery (text).
    Phrase,
    /// The first letters of a medium term with `:*`, for to_tsquery (text).
    Prefix,
    /// A fragment of a random document's title, for trigram similarity (text).
    TitleFragment,
    /// An existing author id (int8), drawn with the corpus's skew.
    AuthorId,
    /// An existing document id (int8), uniform.
    DocumentId,
    /// Two timestamps, a 30-day window inside the corpus's date range (timestamptz, timestamptz).
    DateWindow,
    /// A held-out query vector (float4[]; cast it with `$n::vector` or `$n::halfvec`). The
    /// statement's first column must be the row id: recall@k is judged from it.
    QueryVector,
    /// A query vector and a category (int4) that 50 % / 10 % / 1 % of the rows carry; recall
    /// is judged against the filtered ground truth.
    QueryVectorCategory50,
    QueryVectorCategory10,
    QueryVectorCategory1,
    /// A batch of fresh points for an upsert, as four arrays: ids (int8[]), categories
    /// (int8[]), timestamps (timestamptz[]) and every vector's components one after another
    /// (float4[], `batch` x dimension). Searches in the same workload are judged against the
    /// points acknowledged before they started.
    FreshPoints,
}

impl ParamGen {
    /// For vector queries: which ground truth judges them (0 unfiltered, else 1 + index into
    /// `dataset::vectors::FILTERS`). None for corpus parameters.
    pub fn vector_filter(self) -> Option<usize> {
        match self {
            ParamGen::QueryVector => Some(0),
            ParamGen::QueryVectorCategory50 => Some(1),
            ParamGen::QueryVectorCategory10 => Some(2),
            ParamGen::QueryVectorCategory1 => Some(3),
            _ => None,
        }
    }

    /// Whether it needs a vector dataset (query vectors and fresh points).
    pub fn needs_vectors(self) -> bool {
        self.vector_filter().is_some() || self == ParamGen::FreshPoints
    }

    /// How many bind parameters this generator fills.
    pub fn arity(self) -> usize {
        match self {
            ParamGen::FreshPoints => 4,
            ParamGen::DateWindow
            | ParamGen::QueryVectorCategory50
            | ParamGen::QueryVectorCategory10
            | ParamGen::QueryVectorCategory1 => 2,
            _ => 1,
        }
    }
}

/// Stable seed from names (FNV-1a), so every profile draws the same parameter sequence.
pub fn name_seed(a: &str, b: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.bytes().chain([0]).chain(b.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x1000_0000_01b3);
    }
    h
}
