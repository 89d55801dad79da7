//! Mutation fuzzing of the composition readers (issue 5, "hostile input never hurts"): thousands
//! of mutants of the committed corpora (`fuzz/corpus/manifest`, `fuzz/corpus/html`) through
//! `parse_manifest` / `parse_html` (and `read_html`'s UTF-8 check), and every composition that
//! parses through the window resolution and frame lookup that a run would do with it. Each case
//! must return (a composition or an `InputError`), never panic, and finish quickly.
//!
//! Deterministic: seed and case count come from `FRAMEX_FUZZ_SEED` / `FRAMEX_FUZZ_ITERS`; a
//! failure names `FRAMEX_FUZZ_SEED=… FRAMEX_FUZZ_CASE=…` to replay it, and saves the input under
//! `target/tmp/fuzz-failures/`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::fuzzkit::{catch, corpus, exercise, mutant, record_failure, Rng, Settings};
use framex::Composition;

/// A parser case taking longer than this (debug build, loaded machine) counts as a hang.
const CASE_LIMIT: Duration = Duration::from_secs(5);

/// Runs `cases` over mutants of `target`'s corpus through `parse`; panics listing every failing
/// case (with its replay coordinates) at the end.
fn fuzz_text(target: &str, ext: &str, default_iters: u64, parse: fn(&str, &Path, u64) -> Option<Composition>) {
    let settings = Settings::from_env(default_iters);
    let seeds = corpus(target);
    let base = tempfile::tempdir().unwrap();
    // The unmutated seeds first: the harness must reach past the parser, not only its errors.
    let parsed_seeds = seeds
        .iter()
        .filter(|s| parse(&String::from_utf8_lossy(&s.bytes), base.path(), 0).is_some())
        .count();
    assert!(parsed_seeds > 0, "{target}: no corpus file parses");
    let mut failures = Vec::new();
    let (mut ok, mut total) = (0u64, 0u64);
    let started = Instant::now();
    for i in settings.cases() {
        let mut rng = Rng::for_case(settings.seed, i);
        let (seed, bytes) = mutant(&mut rng, &seeds, 6, true);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let t0 = Instant::now();
        let r = catch(|| parse(&text, base.path(), i));
        let took = t0.elapsed();
        total += 1;
        let problem = match r {
            Ok(parsed) => {
                ok += parsed.is_some() as u64;
                (took > CASE_LIMIT).then(|| format!("took {took:?}"))
            }
            Err(p) => Some(format!("panicked: {p}")),
        };
        if let Some(problem) = problem {
            failures.push(record_failure(&settings, target, i, ext, seed, &bytes, &problem));
        }
    }
    eprintln!(
        "{target}: {total} cases in {:?}, {ok} parsed, {} failures",
        started.elapsed(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{target}: {} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn manifest_case(text: &str, base: &Path, _case: u64) -> Option<Composition> {
    let comp = framex::parse_manifest(text, "comp.json", base).ok()?;
    exercise::composition(&comp);
    Some(comp)
}

fn html_case(text: &str, base: &Path, case: u64) -> Option<Composition> {
    // Every 16th case also goes through the file reader (BOM, UTF-8 check) with raw bytes.
    if case.is_multiple_of(16) {
        let path = base.join(format!("case-{case}.html"));
        std::fs::write(&path, text.as_bytes()).unwrap();
        if let Ok(comp) = framex::read_html(&path) {
            exercise::composition(&comp);
        }
        let _ = std::fs::remove_file(&path);
    }
    let comp = framex::parse_html(text, "index.html", base).ok()?;
    exercise::composition(&comp);
    Some(comp)
}

#[test]
fn fuzz_manifest_parser() {
    fuzz_text("manifest", "json", 6000, manifest_case);
}

#[test]
fn fuzz_html_reader() {
    fuzz_text("html", "html", 3000, html_case);
}

/// Regression inputs found by fuzzing (also in the corpus): each must give a composition or an
/// input error, never a panic.
#[test]
fn fuzz_regressions_parse_without_panicking() {
    for seed in corpus("manifest").iter().filter(|s| s.name.starts_with("regress-")) {
        let text = String::from_utf8_lossy(&seed.bytes);
        let r = catch(|| manifest_case(&text, Path::new("/tmp"), 1));
        assert!(r.is_ok(), "manifest regression {} panicked: {:?}", seed.name, r.err());
    }
    for seed in corpus("html").iter().filter(|s| s.name.starts_with("regress-")) {
        let text = String::from_utf8_lossy(&seed.bytes);
        let r = catch(|| html_case(&text, Path::new("/tmp"), 1));
        assert!(r.is_ok(), "html regression {} panicked: {:?}", seed.name, r.err());
    }
}
