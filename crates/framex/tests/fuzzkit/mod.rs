//! A small, deterministic mutation fuzzer for the stable test suite (no nightly, no libFuzzer):
//! a seeded RNG, byte-level mutators over the committed corpora under `fuzz/corpus/<target>/`
//! (bit flips, interesting byte and word values, chunk deletion / duplication / insertion,
//! truncation, splicing two corpus files, and dictionary tokens for the text parsers), and a
//! driver that runs every case with its replay coordinates.
//!
//! Every case `i` of a run with seed `S` is generated from `(S, i)` alone, so a failure is
//! replayed with `FRAMEX_FUZZ_SEED=S FRAMEX_FUZZ_CASE=i`. `FRAMEX_FUZZ_ITERS=N` sets the
//! number of cases (`scripts/fuzz.sh` uses it for long campaigns with this same harness).

pub mod exercise;
pub mod internals;

use std::path::{Path, PathBuf};

/// SplitMix64: tiny, fast, and good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator of case `i` of a run seeded `seed`.
    pub fn for_case(seed: u64, i: u64) -> Rng {
        let mut r = Rng(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Settings from the environment: `FRAMEX_FUZZ_SEED`, `FRAMEX_FUZZ_ITERS`, `FRAMEX_FUZZ_CASE`.
pub struct Settings {
    pub seed: u64,
    pub iters: u64,
    /// Run only this case (replay).
    pub only: Option<u64>,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number")))
}

impl Settings {
    /// `default_iters` cases with the fixed default seed unless the environment says otherwise.
    pub fn from_env(default_iters: u64) -> Settings {
        Settings {
            seed: env_u64("FRAMEX_FUZZ_SEED").unwrap_or(0x00F2_A3E5),
            iters: env_u64("FRAMEX_FUZZ_ITERS").unwrap_or(default_iters),
            only: env_u64("FRAMEX_FUZZ_CASE"),
        }
    }

    pub fn cases(&self) -> Box<dyn Iterator<Item = u64>> {
        match self.only {
            Some(i) => Box::new(std::iter::once(i)),
            None => Box::new(0..self.iters),
        }
    }
}

/// A corpus file.
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The committed corpus of `target` (`fuzz/corpus/<target>/`, shared with `cargo fuzz`),
/// sorted by name so runs are reproducible.
pub fn corpus(target: &str) -> Vec<Seed> {
    let dir = corpus_dir(target);
    let mut seeds: Vec<Seed> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| Seed {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&p).unwrap(),
        })
        .collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!seeds.is_empty(), "corpus {} is empty", dir.display());
    seeds
}

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

const INTERESTING_BYTES: &[u8] = &[0x00, 0x01, 0x7f, 0x80, 0xff, 0x10, 0x40, 0xfe];
const INTERESTING_WORDS: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0x8000,
    0xffff,
    0x10000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

/// Tokens that tend to reach deep into the manifest and HTML parsers.
pub const TEXT_TOKENS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e308",
    "-1e308",
    "1e-308",
    "1e20",
    "1e-7",
    "4e9",
    "0.0000001",
    "999999999999999999999999999999",
    "170141183460469231731687303715884105727",
    "-170141183460469231731687303715884105728",
    "9223372036854775807",
    "18446744073709551616",
    "NaN",
    "Infinity",
    "1/0",
    "0/1",
    "1/3",
    "30000/1001",
    "-30/1",
    "1/170141183460469231731687303715884105727",
    "170141183460469231731687303715884105727/3",
    "null",
    "true",
    "false",
    "\"\"",
    "\"a\"",
    "[]",
    "{}",
    "\"fps\":",
    "\"videos\":[",
    "\"start\":",
    "\"end\":",
    "\"mediaStart\":",
    "\"playbackRate\":",
    "\"timelineEnd\":",
    "\"loop\":true",
    "\"src\":\"../x\"",
    "\\u0000",
    "\\ud800",
    "<video src=\"a.mp4\" data-start=\"",
    "<video id=\"",
    "data-start=\"a + 1\"",
    "data-start=\"a - 1e9\"",
    "data-duration=\"",
    "data-playback-rate=\"",
    "data-media-start=\"",
    "data-fps=\"",
    "data-end=\"",
    " + ",
    " - ",
    "</video>",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<![CDATA[",
    "&amp;",
    "&#0;",
    "\u{0}",
    "\u{feff}",
    "é",
    "\n",
];

/// One random mutation of `data` (which may come out empty). `others` are splice partners.
pub fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, others: &[Seed], text: bool) {
    let ops = if text { 12 } else { 10 };
    match rng.below(ops) {
        // Flip one bit.
        0 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] ^= 1 << rng.below(8);
        }
        // Set a byte to an interesting value.
        1 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = *rng.pick(INTERESTING_BYTES);
        }
        // Set a 16/32-bit word (either endianness) to an interesting value: box sizes, counts,
        // dimensions, time bases.
        2 if data.len() >= 4 => {
            let w = *rng.pick(INTERESTING_WORDS);
            let bytes = if rng.chance(2) {
                w.to_be_bytes()
            } else {
                w.to_le_bytes()
            };
            let n = if rng.chance(2) { 4 } else { 2 };
            let i = rng.below(data.len() - n + 1);
            let src = if n == 4 { &bytes[..] } else { &bytes[2..] };
            data[i..i + n].copy_from_slice(src);
        }
        // Delete a chunk.
        3 if data.len() > 1 => {
            let (a, b) = chunk(rng, data.len());
            data.drain(a..b);
        }
        // Duplicate a chunk somewhere.
        4 if !data.is_empty() => {
            let (a, b) = chunk(rng, data.len());
            let piece = data[a..b].to_vec();
            let at = rng.below(data.len() + 1);
            data.splice(at..at, piece);
        }
        // Insert random bytes.
        5 => {
            let n = 1 + rng.below(16);
            let at = rng.below(data.len() + 1);
            let piece: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            data.splice(at..at, piece);
        }
        // Truncate.
        6 if !data.is_empty() => {
            let at = rng.below(data.len());
            data.truncate(at);
        }
        // Splice: this file's head, another file's tail.
        7 if !others.is_empty() => {
            let other = &rng.pick(others).bytes;
            let a = rng.below(data.len() + 1);
            let b = rng.below(other.len() + 1);
            data.truncate(a);
            data.extend_from_slice(&other[b..]);
        }
        // Overwrite a run with random bytes ("garbage in the middle").
        8 if !data.is_empty() => {
            let (a, b) = chunk(rng, data.len());
            for x in &mut data[a..b] {
                *x = rng.next() as u8;
            }
        }
        // Increment / decrement a byte (off-by-one lengths and counts).
        9 if !data.is_empty() => {
            let i = rng.below(data.len());
            data[i] = if rng.chance(2) {
                data[i].wrapping_add(1)
            } else {
                data[i].wrapping_sub(1)
            };
        }
        // Text only: insert a dictionary token.
        10 => {
            let t = rng.pick(TEXT_TOKENS).as_bytes();
            let at = rng.below(data.len() + 1);
            data.splice(at..at, t.iter().copied());
        }
        // Text only: replace a run of digits with a dictionary token (numbers are where
        // parsers and time arithmetic break).
        11 => {
            let digits: Vec<usize> = (0..data.len()).filter(|&i| data[i].is_ascii_digit()).collect();
            if digits.is_empty() {
                return;
            }
            let mut a = *rng.pick(&digits);
            while a > 0 && (data[a - 1].is_ascii_digit() || data[a - 1] == b'.') {
                a -= 1;
            }
            let mut b = a;
            while b < data.len() && (data[b].is_ascii_digit() || data[b] == b'.' || data[b] == b'/') {
                b += 1;
            }
            let t = rng.pick(TEXT_TOKENS).as_bytes();
            data.splice(a..b, t.iter().copied());
        }
        _ => {}
    }
}

/// A random `[a, b)` inside `0..len` (`len > 0`), usually short.
fn chunk(rng: &mut Rng, len: usize) -> (usize, usize) {
    let a = rng.below(len);
    let max = if rng.chance(4) { len - a } else { (len - a).min(64) };
    let b = a + 1 + rng.below(max.max(1));
    (a, b.min(len))
}

/// A mutated copy of a random corpus file: 1–`max_ops` stacked mutations. Returns the seed it
/// came from.
pub fn mutant<'a>(rng: &mut Rng, corpus: &'a [Seed], max_ops: usize, text: bool) -> (&'a Seed, Vec<u8>) {
    let seed = rng.pick(corpus);
    let mut data = seed.bytes.clone();
    for _ in 0..1 + rng.below(max_ops) {
        mutate_once(rng, &mut data, corpus, text);
    }
    (seed, data)
}

/// Where failing inputs are saved for replay (`target/tmp/fuzz-failures/`).
pub fn failure_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Saves a failing case's input and describes how to replay it.
pub fn record_failure(
    settings: &Settings,
    target: &str,
    case: u64,
    ext: &str,
    seed: &Seed,
    bytes: &[u8],
    problem: &str,
) -> String {
    let saved = failure_dir().join(format!("{target}-{:x}-{case}.{ext}", settings.seed));
    std::fs::write(&saved, bytes).unwrap();
    format!(
        "  FRAMEX_FUZZ_SEED={:#x} FRAMEX_FUZZ_CASE={case} (from {}): {problem}; input saved as {}",
        settings.seed,
        seed.name,
        saved.display()
    )
}

/// The text of a panic payload.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

thread_local! {
    /// Inside a fuzz case: panics are recorded here instead of printed.
    static CASE_PANIC: std::cell::RefCell<Option<Option<String>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` catching a panic; returns its message and location instead of printing a
/// backtrace per failing case (the test reports every failure at the end).
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = CASE_PANIC.with(|c| match &mut *c.borrow_mut() {
                Some(slot) => {
                    let at = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
                    *slot = Some(format!("{}{at}", panic_text(info.payload())));
                    true
                }
                None => false,
            });
            if !recorded {
                default(info);
            }
        }));
    });
    CASE_PANIC.with(|c| *c.borrow_mut() = Some(None));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let msg = CASE_PANIC.with(|c| c.borrow_mut().take()).flatten();
    r.map_err(|p| msg.unwrap_or_else(|| panic_text(&*p)))
}
