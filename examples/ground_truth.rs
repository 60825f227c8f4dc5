//! Times tunebench's exact ground truth on a dataset spec and exports the vectors as .npy,
//! so the same brute force can be timed elsewhere (e.g. numpy):
//!
//! `cargo run --release --example ground_truth -- datasets/vectors-100k.toml /tmp/gt`
//! writes base.npy, queries.npy and truth.npy (k_max ids per query, unfiltered).

use std::path::Path;
use std::time::Instant;

use tunebench::dataset::vectors::files::{Matrix, write_npy};
use tunebench::dataset::{DatasetSpec, VectorSet, load_spec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, spec_path, out] = &args[..] else {
        eprintln!("usage: ground_truth DATASET.toml OUT_DIR");
        std::process::exit(2);
    };
    let DatasetSpec::Vectors(spec) = load_spec(Path::new(spec_path), &Default::default())
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
    else {
        eprintln!("{spec_path}: not a vectors dataset");
        std::process::exit(2)
    };
    let out = Path::new(out);
    std::fs::create_dir_all(out).expect("output folder");
    let started = Instant::now();
    // A throwaway cache folder, so the truth is computed, not read.
    let cache = out.join("cache");
    let _ = std::fs::remove_dir_all(&cache);
    let set = VectorSet::build(&spec, &cache).expect("dataset builds");
    let total = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let gt = set.compute_truth();
    let truth_s = started.elapsed().as_secs_f64();
    println!(
        "{} base x {} queries x {} dims, k = {}: generate + truth {total:.2} s; truth alone (unfiltered + 3 filters) {truth_s:.2} s on {} threads",
        set.len(),
        set.query_count(),
        set.dim,
        gt.k,
        rayon::current_num_threads()
    );
    let save = |name: &str, rows: usize, dim: usize, data: Vec<f32>| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(out.join(name)).unwrap());
        write_npy(&mut f, &Matrix { rows, dim, data }).unwrap();
    };
    save("base.npy", set.len(), set.dim, set.base.clone());
    save(
        "queries.npy",
        set.query_count(),
        set.dim,
        set.queries.clone(),
    );
    let ids: Vec<f32> = gt.filters[0]
        .iter()
        .flat_map(|n| n.ids.iter().map(|&i| i as f32))
        .collect();
    save("truth.npy", set.query_count(), gt.k, ids);
}
