//! The published report: charts linked from report.md (each a real SVG file drawn from the
//! results' histograms and S3 series), `--format html` as one self-contained page that
//! headless Chromium renders with the charts visible, and `tunebench report` with a user's
//! own template. No server needed: everything runs on two committed results files from real
//! runs on the dev machine, through the real binary.
//!
//! - `tests/fixtures/results-small.json`: PostgreSQL FTS, profiles baseline and tuned.
//! - `tests/fixtures/results-s3.json`: the s3-multipart scenario against MinIO, baseline and
//!   tuned, with the per-second throughput series in its S3 evidence.
//! - `tests/fixtures/results-qdrant-server.json`: a Qdrant server and the embedded engine side
//!   by side, baseline and tuned, with the server's telemetry in its evidence.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tunebench::results::{Evidence, Results};

const PG_FIXTURE: &str = "tests/fixtures/results-small.json";
const S3_FIXTURE: &str = "tests/fixtures/results-s3.json";
const QDRANT_FIXTURE: &str = "tests/fixtures/results-qdrant-server.json";
/// The first two line colours of the charts (plotters' Palette99): baseline, then tuned.
const LINE_COLOURS: [(u8, u8, u8); 2] = [(230, 25, 75), (60, 180, 75)];

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn tunebench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the tunebench binary runs")
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fixture copied into a fresh folder as `results.json` (reports are written beside it).
fn staged(fixture: &str) -> (tempfile::TempDir, PathBuf, Results) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("results.json");
    std::fs::copy(repo(fixture), &path).expect("copy fixture");
    let results = Results::read(&path).unwrap_or_else(|e| panic!("{fixture} does not read: {e}"));
    (dir, path, results)
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `(alt, target)` of every markdown image in `md`.
fn image_links(md: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    let mut rest = md;
    while let Some(start) = rest.find("![") {
        rest = &rest[start + 2..];
        let Some(mid) = rest.find("](") else { break };
        let alt = rest[..mid].to_string();
        let after = &rest[mid + 2..];
        let end = after.find(')').expect("image link closes");
        links.push((alt, after[..end].to_string()));
        rest = &after[end..];
    }
    links
}

/// The text of a `## ` or `### ` section: from its heading to the next heading of that level
/// or higher.
fn section<'a>(md: &'a str, heading: &str) -> &'a str {
    let start = md
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no `{heading}` in:\n{md}"));
    let body = &md[start + heading.len() + 2..];
    let level = heading.split(' ').next().unwrap().len();
    let end = body
        .match_indices("\n#")
        .find(|(i, _)| {
            let hashes = body[i + 1..].chars().take_while(|c| *c == '#').count();
            hashes <= level
        })
        .map_or(body.len(), |(i, _)| i);
    &body[..end]
}

/// The drawn lines of an SVG: polylines (plotters' line series) with at least `min_points`.
fn svg_lines(path: &Path, min_points: usize) -> usize {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{}", path.display());
    assert!(
        root.attribute("width").is_some() && root.attribute("height").is_some(),
        "{} has no size",
        path.display()
    );
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline") || n.has_tag_name("path"))
        .filter(|n| {
            let pts = n.attribute("points").or(n.attribute("d")).unwrap_or("");
            pts.split_whitespace().count() >= min_points
        })
        .count()
}

/// Workloads of the run, in first-seen order, with the profiles that measured each.
fn workloads(results: &Results) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for run in &results.runs {
        for w in &run.workloads {
            match out.iter_mut().find(|(n, _)| *n == w.workload) {
                Some((_, p)) => p.push(run.profile.clone()),
                None => out.push((w.workload.clone(), vec![run.profile.clone()])),
            }
        }
    }
    out
}

/// S3 workloads that moved payload bytes, per the evidence's throughput series.
fn s3_workloads_with_bytes(results: &Results) -> BTreeSet<String> {
    results
        .runs
        .iter()
        .flat_map(|r| r.server.values())
        .filter_map(|e| match e {
            Evidence::S3(s) => Some(s),
            _ => None,
        })
        .flat_map(|s| s.throughput_series.iter())
        .filter(|p| p.bytes > 0)
        .map(|p| p.workload.clone())
        .collect()
}

fn check_markdown_report(fixture: &str) {
    let (dir, results_path, results) = staged(fixture);
    ok(&tunebench(&["report", arg(&results_path)]));
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md written");
    let links = image_links(&md);

    // Every file under charts/ is linked, and every link points at a file that exists.
    let linked: BTreeSet<String> = links
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| t.starts_with("charts/"))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir.path().join("charts"))
        .expect("charts/ written")
        .map(|e| format!("charts/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(linked, on_disk, "links vs files in charts/");
    for (_, target) in &links {
        assert!(
            !target.starts_with('/') && !target.contains("://"),
            "links must be relative to render on a code-hosting site: {target}"
        );
        assert!(
            dir.path().join(target).is_file(),
            "{target} is linked but missing"
        );
    }

    // One latency spectrum per workload, under Performance improvements, with one line
    // (of many points: a spectrum, not five numbers) per profile that ran it.
    let perf = section(&md, "## 2. Performance improvements");
    for (workload, profiles) in workloads(&results) {
        let file = format!("charts/latency-{workload}.svg");
        assert!(
            perf.contains(&format!("]({file})")),
            "{fixture}: {file} not linked under Performance improvements"
        );
        let lines = svg_lines(&dir.path().join(&file), 20);
        assert!(
            lines >= profiles.len(),
            "{file}: {lines} drawn line(s) for profiles {profiles:?}"
        );
    }

    // Throughput over time: one chart per S3 workload that moved bytes, in the Object store
    // section; none (and a sentence saying so) without S3 evidence.
    let object_store = section(&md, "### Object store (S3 / MinIO)");
    let moved = s3_workloads_with_bytes(&results);
    let throughput_links: BTreeSet<String> = image_links(object_store)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let expected: BTreeSet<String> = moved
        .iter()
        .map(|w| format!("charts/throughput-{w}.svg"))
        .collect();
    assert_eq!(throughput_links, expected, "{fixture}: throughput charts");
    for file in &expected {
        assert!(svg_lines(&dir.path().join(file), 3) >= 2, "{file}: lines");
    }
    if moved.is_empty() {
        assert!(
            object_store.contains("No S3 target in this run"),
            "{object_store}"
        );
    }
}

#[test]
fn markdown_report_links_a_latency_spectrum_per_workload() {
    check_markdown_report(PG_FIXTURE);
}

#[test]
fn markdown_report_links_s3_throughput_over_time() {
    check_markdown_report(S3_FIXTURE);
}

#[test]
fn markdown_report_of_a_qdrant_server_shows_what_the_server_measured() {
    check_markdown_report(QDRANT_FIXTURE);
    let (dir, results_path, _) = staged(QDRANT_FIXTURE);
    ok(&tunebench(&["report", arg(&results_path)]));
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md written");
    for row in [
        "server: requests (server-timed)",
        "/qdrant.Points/Search",
        "server: index searches by path",
        "server: process heap allocated / resident",
    ] {
        assert!(md.contains(row), "report.md has no `{row}`");
    }
}

// ---- --format html, in headless Chromium ---------------------------------------------------

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(PathBuf::from)
}

/// Screenshot of `page` at 1280 x `height`, with a time limit (a hung browser fails the test).
fn screenshot(browser: &Path, page: &Path, height: u32, out: &Path) {
    let profile = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--screenshot={}", out.display()),
            &format!("--window-size=1280,{height}"),
            &format!("file://{}", page.display()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish a screenshot within 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// RGB pixels of a PNG file.
fn rgb_pixels(path: &Path) -> Vec<(u8, u8, u8)> {
    let file = std::io::BufReader::new(std::fs::File::open(path).expect("screenshot exists"));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("screenshot is a PNG");
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .expect("PNG size fits in memory")
    ];
    let info = reader.next_frame(&mut buf).expect("PNG decodes");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| (p[0], p[1], p[2]))
        .collect()
}

fn near(a: (u8, u8, u8), b: (u8, u8, u8)) -> bool {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).abs();
    d(a.0, b.0) + d(a.1, b.1) + d(a.2, b.2) <= 40
}

#[test]
fn html_page_is_self_contained_and_chromium_shows_the_charts() {
    let (dir, results_path, results) = staged(PG_FIXTURE);
    ok(&tunebench(&["report", arg(&results_path)]));
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let charts = image_links(&md).len();
    assert!(charts >= workloads(&results).len(), "{md}");

    ok(&tunebench(&[
        "report",
        arg(&results_path),
        "--format",
        "html",
    ]));
    let page = dir.path().join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html written");
    // Self-contained: every chart is a data: URI, nothing is fetched from a file or a host.
    assert_eq!(
        html.matches("src=\"data:image/svg+xml;base64,").count(),
        charts,
        "every chart inline"
    );
    for bad in [
        "src=\"charts/",
        "src=\"http",
        "href=\"http",
        "<link ",
        "<script",
    ] {
        assert!(!html.contains(bad), "report.html holds `{bad}`");
    }
    assert!(html.contains("<table>") && html.contains("<style>"));
    // The page carries the report itself, not only the charts.
    let title = format!(
        "Database optimization report: {}",
        results.scenario.name.as_str()
    );
    assert!(html.contains(&format!("<h1>{title}</h1>")), "{html}");
    assert!(html.contains("<td>fts_search</td>"), "{html}");

    let Some(browser) = chromium() else {
        if std::env::var_os("TUNEBENCH_REQUIRE_CHROMIUM").is_some() {
            panic!(
                "chromium not installed but TUNEBENCH_REQUIRE_CHROMIUM is set (apt-get install chromium)"
            );
        }
        println!("skipped: chromium not installed (apt-get install chromium)");
        return;
    };
    let shot = dir.path().join("report.png");
    // Tall enough for the whole page, charts included.
    screenshot(&browser, &page, 6000, &shot);
    if let Ok(keep) = std::env::var("TUNEBENCH_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, &keep).expect("copy screenshot");
    }
    let pixels = rgb_pixels(&shot);
    let non_white = pixels
        .iter()
        .filter(|p| p.0 < 235 || p.1 < 235 || p.2 < 235)
        .count();
    let distinct: BTreeSet<(u8, u8, u8)> = pixels.iter().copied().collect();
    assert!(
        non_white > pixels.len() / 100,
        "screenshot nearly blank: {non_white} of {} pixels not white",
        pixels.len()
    );
    assert!(
        distinct.len() > 50,
        "screenshot has only {} colours",
        distinct.len()
    );
    // The charts' lines are on screen: both profiles' colours, as strokes of many pixels
    // (the tables and text use no such colours).
    for (profile, colour) in ["baseline", "tuned"].iter().zip(LINE_COLOURS) {
        let n = pixels.iter().filter(|p| near(**p, colour)).count();
        assert!(
            n > 300,
            "the {profile} line colour {colour:?} covers only {n} pixels: charts not drawn"
        );
    }
}

// ---- user templates ----------------------------------------------------------------------

#[test]
fn a_user_template_renders_fields_of_the_documented_context() {
    let (dir, results_path, results) = staged(PG_FIXTURE);
    let template = dir.path().join("mine.md.tera");
    std::fs::write(
        &template,
        "Scenario: {{ scenario_name }}\n\
         {% for run in results.runs %}{% for w in run.workloads %}{% if w.workload == \"fts_search\" %}\
         {{ run.profile }} fts_search p99 = {{ w.latency_ms.p99 }} ms\n\
         {% endif %}{% endfor %}{% endfor %}\
         {% for c in latency_charts %}![{{ c.workload }}]({{ c.file }})\n{% endfor %}",
    )
    .unwrap();
    let out_dir = dir.path().join("published");
    std::fs::create_dir(&out_dir).unwrap();
    ok(&tunebench(&[
        "report",
        arg(&results_path),
        "--template",
        arg(&template),
        "--out",
        arg(&out_dir),
    ]));
    let md = std::fs::read_to_string(out_dir.join("report.md")).expect("report.md in --out");
    let mut expected = format!("Scenario: {}\n", results.scenario.name.as_str());
    for run in &results.runs {
        let w = run
            .workloads
            .iter()
            .find(|w| w.workload == "fts_search")
            .unwrap();
        expected.push_str(&format!(
            "{} fts_search p99 = {} ms\n",
            run.profile, w.latency_ms.p99
        ));
    }
    for (w, _) in workloads(&results) {
        expected.push_str(&format!("![{w}](charts/latency-{w}.svg)\n"));
    }
    assert_eq!(md, expected);
    assert!(out_dir.join("charts/latency-fts_search.svg").is_file());

    // The same template as a page: its links are inlined too.
    ok(&tunebench(&[
        "report",
        arg(&results_path),
        "--template",
        arg(&template),
        "--out",
        arg(&out_dir),
        "--format",
        "html",
    ]));
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("<p>Scenario: postgres-fts"), "{html}");
    assert_eq!(
        html.matches("data:image/svg+xml;base64,").count(),
        workloads(&results).len()
    );
}

#[test]
fn a_template_with_a_syntax_error_exits_2_naming_the_file() {
    let (dir, results_path, _) = staged(PG_FIXTURE);
    let template = dir.path().join("broken.md.tera");
    std::fs::write(&template, "# {{ scenario_name }}\n{% for w in %}\n").unwrap();
    for format in ["md", "html"] {
        let out = tunebench(&[
            "report",
            arg(&results_path),
            "--template",
            arg(&template),
            "--format",
            format,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "stderr: {err}");
        assert!(err.contains("broken.md.tera"), "stderr: {err}");
        assert!(err.contains("template does not parse"), "stderr: {err}");
        assert!(!err.contains("panicked"), "stderr: {err}");
        assert!(!dir.path().join("report.md").exists());
        assert!(!dir.path().join("report.html").exists());
        assert!(
            !dir.path().join("charts").exists(),
            "no charts for a failed render"
        );
    }
}

#[test]
fn a_bad_format_value_exits_2() {
    let (_dir, results_path, _) = staged(PG_FIXTURE);
    for args in [
        vec!["report", arg(&results_path), "--format", "pdf"],
        vec!["run", "scenarios/postgres-fts.toml", "--format", "pdf"],
    ] {
        let out = tunebench(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("invalid value 'pdf' for '--format") && err.contains("md, html"),
            "{args:?}: {err}"
        );
    }
}
