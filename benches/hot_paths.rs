//! The harness's own per-operation overhead: recording a latency, drawing a query's
//! parameters, choosing an op, merging histograms. These run around every measured
//! operation, so they must stay far below the latencies being measured.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::distr::Distribution;
use rand_chacha::ChaCha8Rng;
use tunebench::dataset::{Corpus, DatasetKind, DocumentsSpec};
use tunebench::driver::OpMix;
use tunebench::metrics;
use tunebench::scenario::ParamGen;

fn corpus() -> Corpus {
    Corpus::new(&DocumentsSpec {
        kind: DatasetKind::Documents,
        schema: "tunebench_bench".into(),
        seed: 42,
        authors: 5000,
        documents: 200_000,
        comments_per_document: 2.0,
        vocabulary: 20_000,
        zipf_exponent: 1.0,
        body_words: [40, 100],
    })
}

fn record(c: &mut Criterion) {
    let mut h = metrics::new_histogram();
    let mut i = 0u64;
    c.bench_function("record_latency", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            metrics::record(&mut h, Duration::from_micros(black_box(50 + i % 100_000)));
        })
    });
}

/// What each operation records since latency over time: the whole-phase histogram as
/// before, plus the window of its completion time (a clock read, a boundary check, a second
/// histogram record). Compared with `record_latency` plus the clock read it already did.
fn record_with_window(c: &mut Criterion) {
    use tunebench::driver::intervals::{Collector, Live};
    let start = tokio::time::Instant::now();
    let collector = Collector::start(start, Duration::from_millis(100), 1, Live::default());
    let mut recorder = collector.recorder(0);
    let mut h = metrics::new_histogram();
    let mut i = 0u64;
    c.bench_function("record_latency_clock_read", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let now = tokio::time::Instant::now();
            metrics::record(&mut h, Duration::from_micros(black_box(50 + i % 100_000)));
            black_box(now)
        })
    });
    c.bench_function("record_latency_and_window", |b| {
        b.iter(|| {
            i = i.wrapping_add(7919);
            let now = tokio::time::Instant::now();
            let latency = Duration::from_micros(black_box(50 + i % 100_000));
            metrics::record(&mut h, latency);
            let w = recorder.window(now);
            metrics::record(&mut w.hist, latency);
            w.ops += 1;
        })
    });
    drop(recorder);
    black_box(collector.finish().windows.len());
}

fn merge(c: &mut Criterion) {
    let mut a = metrics::new_histogram();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let dist = rand_distr::LogNormal::new(7.0, 1.0).unwrap();
    for _ in 0..100_000 {
        metrics::record(&mut a, Duration::from_micros(dist.sample(&mut rng) as u64));
    }
    c.bench_function("merge_histograms_100k_samples", |b| {
        b.iter(|| {
            let mut into = metrics::new_histogram();
            metrics::merge(&mut into, black_box(&a));
            into
        })
    });
}

fn draw(c: &mut Criterion) {
    let corpus = corpus();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut out = Vec::new();
    let mut group = c.benchmark_group("draw_params");
    for (name, gens) in [
        ("term_common", vec![ParamGen::TermCommon]),
        (
            "author_id+date_window",
            vec![ParamGen::AuthorId, ParamGen::DateWindow],
        ),
        ("phrase (regenerates a document)", vec![ParamGen::Phrase]),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| corpus.draw(black_box(&gens), &mut rng, &mut out))
        });
    }
    group.finish();
    let mix = OpMix::new(&[("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]);
    c.bench_function("choose_weighted_op", |b| {
        b.iter(|| mix.weights.sample(&mut rng))
    });
}

/// A declared source (the user's own parameters): a row of a 100k-row file, uniformly or by
/// weight, and a Zipf draw over a million ids.
fn draw_sources(c: &mut Criterion) {
    use tunebench::dataset::Source;
    use tunebench::dataset::sources::{Distribution as D, Order, SourceSpec};
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("customer_id,region,w\n");
    for i in 0..100_000 {
        text.push_str(&format!("{i},{},{}\n", ["eu", "us", "apac"][i % 3], i % 7));
    }
    std::fs::write(dir.path().join("p.csv"), text).unwrap();
    let file = |order, weight: Option<&str>| SourceSpec::File {
        path: "p.csv".into(),
        column: None,
        columns: vec!["customer_id".into(), "region".into()],
        order,
        weight: weight.map(String::from),
        kind: None,
        types: Default::default(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut out = Vec::new();
    let mut group = c.benchmark_group("draw_source");
    for (name, spec) in [
        ("file_row_uniform (int + text)", file(Order::Uniform, None)),
        (
            "file_row_weighted (int + text)",
            file(Order::Weighted, Some("w")),
        ),
        (
            "range_zipf_1m",
            SourceSpec::Range {
                min: 1,
                max: 1_000_000,
                distribution: D::Zipf,
                s: Some(1.1),
                mean: None,
                stddev: None,
            },
        ),
    ] {
        let source = Source::load(spec, dir.path()).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                source.draw(&mut rng, &mut out)
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    record,
    record_with_window,
    merge,
    draw,
    draw_sources
);
criterion_main!(benches);
