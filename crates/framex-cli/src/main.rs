//! The `framex` command: a thin layer over the framex engine (argument parsing, progress bar,
//! result JSON, exit codes). All behaviour lives in the library.
//!
//! Two executables run this same code. `framex` does not link FFmpeg: it answers runs whose
//! every clip is in the store ([`framex::extract_stored`]) and the `cache` commands itself,
//! and hands everything else — a probe, a run that must probe, decode or download — to
//! `framex-engine` beside it (`src/engine.rs`: this file with FFmpeg behind [`Backend`]),
//! replacing itself with it (`exec`: same process, arguments, output and exit status). Loading
//! Debian's FFmpeg (~160 shared libraries) is most of a warm call's time otherwise.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use framex::{CancelToken, Composition, ExtractOptions, ExtractionResult, FormatChoice, Progress, Rational};

/// Where the command needs FFmpeg. `framex` ([`Front`]) answers all-hit runs without it and
/// hands the rest to `framex-engine`; `framex-engine` (`src/engine.rs`) calls the library.
pub(crate) trait Backend {
    /// Before a probe or an extraction: FFmpeg's own console log is noise (failures are
    /// reported through framex's error kinds).
    fn quiet_ffmpeg_log();
    /// `framex probe FILE`.
    fn probe(file: &Path) -> Result<framex::MediaInfo, framex::MediaError>;
    /// The extraction itself.
    fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult;
    /// Turns SIGINT, SIGTERM, SIGHUP and SIGQUIT into a cancel token for the run.
    fn stop_on_signals() -> CancelToken;
}

/// The `framex` executable, which does not link FFmpeg.
struct Front;

impl Backend for Front {
    fn quiet_ffmpeg_log() {}

    fn probe(_: &Path) -> Result<framex::MediaInfo, framex::MediaError> {
        hand_over()
    }

    fn extract(comp: &Composition, opts: &ExtractOptions) -> ExtractionResult {
        framex::extract_stored(comp, opts).unwrap_or_else(|| hand_over())
    }

    fn stop_on_signals() -> CancelToken {
        held_signals::start()
    }
}

/// The executable [`hand_over`] runs: beside this one.
const ENGINE: &str = "framex-engine";

/// Runs this command again as `framex-engine` (beside this executable) in this same process —
/// `exec`: same pid, arguments (`argv[0]` too, so `--help` and messages read `framex`), standard
/// streams and exit status — for work that needs FFmpeg. Signals received meanwhile are passed
/// on ([`held_signals::pass_on`]). Returns only when the engine cannot be started.
fn hand_over() -> ! {
    use std::os::unix::process::CommandExt;
    held_signals::pass_on();
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "framex".into());
    let error = match std::env::current_exe() {
        Ok(exe) => {
            let engine = exe.with_file_name(ENGINE);
            let e = std::process::Command::new(&engine).arg0(&arg0).args(args).exec();
            format!("{}: {e}", engine.display())
        }
        Err(e) => format!("cannot locate this executable: {e}"),
    };
    eprintln!("framex: cannot start {ENGINE}, which probes and decodes (it is installed beside framex): {error}");
    std::process::exit(1)
}

/// The `framex` executable's signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked and taken
/// by a thread with `sigtimedwait`, so that none is lost when the process becomes
/// `framex-engine`: a blocked signal stays pending across `exec`, and the engine unblocks it
/// once its own handler is in place. The rule is the engine's: the first signal
/// cancels the run, a second exits at once (status 130).
pub(crate) mod held_signals {
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
    use std::sync::Mutex;

    use framex::CancelToken;

    const SIGNALS: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

    /// Set by [`pass_on`]: the thread stops taking signals.
    static HANDING_OVER: AtomicBool = AtomicBool::new(false);
    /// The first signal taken (0: none yet).
    static RECEIVED: AtomicI32 = AtomicI32::new(0);
    static THREAD: Mutex<Option<std::thread::JoinHandle<()>>> = Mutex::new(None);

    fn set() -> libc::sigset_t {
        // SAFETY: sigemptyset initialises the set it is given; sigaddset adds valid signal numbers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in SIGNALS {
                libc::sigaddset(&mut set, s);
            }
            set
        }
    }

    /// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) the signals in the calling thread.
    pub(crate) fn mask(how: libc::c_int) {
        let set = set();
        // SAFETY: changes the calling thread's signal mask with a valid, initialised set.
        unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) };
    }

    /// Blocks the signals (this thread, and every thread it starts later) and starts the thread
    /// taking them. Called before any other thread exists.
    pub fn start() -> CancelToken {
        let cancel = CancelToken::new();
        mask(libc::SIG_BLOCK);
        let token = cancel.clone();
        let thread = std::thread::spawn(move || {
            let set = set();
            let wait = libc::timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            while !HANDING_OVER.load(Ordering::Acquire) {
                // SAFETY: waits for one of the blocked signals in `set`, at most `wait`; no
                // siginfo is asked for.
                let s = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &wait) };
                if s <= 0 {
                    continue;
                }
                if RECEIVED
                    .compare_exchange(0, s, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    token.cancel();
                } else {
                    std::process::exit(130);
                }
            }
        });
        *THREAD.lock().expect("signal thread") = Some(thread);
        cancel
    }

    /// Before `exec`: stops the thread, then makes a signal it took pending again (blocked, it
    /// waits for the engine); signals arriving from now on stay pending by themselves.
    pub fn pass_on() {
        let Some(thread) = THREAD.lock().expect("signal thread").take() else {
            return;
        };
        HANDING_OVER.store(true, Ordering::Release);
        let _ = thread.join();
        let s = RECEIVED.load(Ordering::Acquire);
        if s != 0 {
            // SAFETY: sends a valid signal to this process, where it is blocked: it stays pending.
            unsafe { libc::kill(libc::getpid(), s) };
        }
    }
}

const EXAMPLES: &str = "\
Examples:
  framex probe clip.mp4
  framex extract comp.json --out frames
  framex extract comp.json --out frames --fps 30000/1001 --format png --json > result.json
  framex extract comp.json --json           # frames stay in the store; see each clip's \"dir\"
  framex extract index.html --out frames    # a HyperFrames HTML composition
  framex frame index.html --at 2.5          # which frame file each clip shows at t = 2.5 s
  framex extract comp.json --frames 450..900 --json   # one slice of a chunked render
  framex extract comp.json --time 15..30 --json       # the same slice by time (at 30 fps)
  framex cache stats
  framex extract comp.json --remote-store s3://frames/fleet --json   # a store shared by a fleet
  framex cache remote stats --remote-store s3://frames/fleet

Exit status: 0 every clip extracted, 1 some clips failed (or the run was cancelled),
2 unusable input (bad manifest or arguments).";

#[derive(Parser)]
#[command(name = "framex", version, about = "Exact, fast video frame extraction for programmatic video", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// PNG for sources with alpha, JPEG otherwise
    Auto,
    Jpg,
    Png,
}

#[derive(clap::Args)]
struct CacheArgs {
    /// Frame store folder, or "off" [default: $FRAMEX_CACHE_DIR, else ~/.cache/framex]
    #[arg(long, value_name = "DIR|off", global = true)]
    cache_dir: Option<String>,
    /// Store size limit, e.g. 2G, 500M, 1073741824 [default: 2G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size, global = true)]
    cache_max: Option<u64>,
}

impl CacheArgs {
    /// The store folder to use, `None` when disabled.
    fn dir(&self) -> Option<PathBuf> {
        framex::cache::resolve_dir(self.cache_dir.as_deref())
    }

    fn gc(&self) -> framex::cache::GcOptions {
        let mut g = framex::cache::GcOptions::default();
        if let Some(m) = self.cache_max {
            g.max_bytes = m;
        }
        g
    }
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix("IB").or_else(|| t.strip_suffix('B')).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        Some('T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| (v * mult as f64) as u64)
        .ok_or_else(|| format!("expected a size like 2G, 500M or a number of bytes, got {s:?}"))
}

#[derive(Subcommand)]
enum CacheCommand {
    /// Sources, stored frames, clip folders and real disk usage
    Stats,
    /// Sweep stale temporaries and evict partial downloads, then least-recently-used sources,
    /// down to --cache-max
    Gc {
        /// Also evict sources used within the last hour (never ones a running extraction holds)
        #[arg(long)]
        now: bool,
    },
    /// Remove everything no running extraction holds
    Clear,
    /// Re-check every stored frame and clip folder; --repair removes what is damaged
    Verify {
        #[arg(long)]
        repair: bool,
    },
    /// The remote tier on S3-compatible storage (--remote-store / FRAMEX_REMOTE_STORE)
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
        #[command(flatten)]
        remote: RemoteArgs,
    },
}

#[derive(Subcommand)]
enum RemoteCommand {
    /// Sources, clip records, segments, frames and bytes in the bucket
    Stats,
    /// Delete framex objects uploaded more than D ago (age since upload: S3 keeps no access time)
    Gc {
        /// Age: a number with s, m, h or d (e.g. 90s, 12h, 7d); plain numbers are seconds
        #[arg(long, value_name = "D", value_parser = parse_age)]
        older_than: std::time::Duration,
    },
    /// Read every framex object back and check it (segments frame by frame against their hashes,
    /// records against their seals); --repair deletes what is damaged. Exit 1 if damage is found
    /// without --repair
    Verify {
        #[arg(long)]
        repair: bool,
    },
}

/// Where the remote tier is (shared by extraction and `cache remote`).
#[derive(clap::Args)]
struct RemoteArgs {
    /// Second store tier shared by a fleet, s3://bucket/prefix on any S3-compatible service, or
    /// "off"; credentials, region and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true (plain http) and ~/.aws/{credentials,config}
    /// [default: $FRAMEX_REMOTE_STORE]
    #[arg(long, value_name = "URL", global = true)]
    remote_store: Option<String>,
    /// Longest wait, after the frames are published locally, for uploads to the remote tier; what
    /// is left is reported and stays local [default: 30]
    #[arg(long, value_name = "SECS", value_parser = parse_secs, global = true)]
    remote_flush_limit: Option<std::time::Duration>,
}

impl RemoteArgs {
    /// The remote tier asked for, if any: the flag, else `FRAMEX_REMOTE_STORE`; `off` for none.
    fn options(&self) -> Option<framex::cache::RemoteStoreOptions> {
        let url = self
            .remote_store
            .clone()
            .or_else(|| std::env::var("FRAMEX_REMOTE_STORE").ok())
            .filter(|u| !u.trim().is_empty() && !framex::cache::is_off(u))?;
        let mut o = framex::cache::RemoteStoreOptions::new(url.trim());
        if let Some(d) = self.remote_flush_limit {
            o = o.with_flush_limit(d);
        }
        Some(o)
    }
}

/// An age like `90s`, `30m`, `12h`, `7d` (a plain number is seconds).
fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1.0),
        Some((i, 'm')) => (&t[..i], 60.0),
        Some((i, 'h')) => (&t[..i], 3600.0),
        Some((i, 'd')) => (&t[..i], 86400.0),
        _ => (t, 1.0),
    };
    num.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e8)
        .map(|v| std::time::Duration::from_secs_f64(v * mult))
        .ok_or_else(|| format!("expected an age like 90s, 30m, 12h or 7d, got {s:?}"))
}

#[derive(Subcommand)]
enum Command {
    /// Print a source's metadata as JSON (no decoding; frame and keyframe counts from a packet scan)
    Probe {
        /// Video file
        file: PathBuf,
    },
    /// Extract every clip of a composition into frame files
    #[command(
        after_help = "Frames are written to OUT/<clipId>/frame_00001.jpg … (PNG for sources with alpha), or left in the\n\
store (each clip's \"dir\" in the result) without --out. Each clip folder appears only once complete;\n\
Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT) stops promptly and leaves no partial files.\n\n\
--frames A..B (or --time S..E) extracts only what composition frames A <= n < B show (frame n at\n\
n/fps), by the lookup rules (loops wrap, held frames, inclusive end): a clip's frame k keeps its\n\
name frame_<k+1> whichever run made it, and the result lists each clip's \"ranges\" of indices.\n\
A slice ending past the composition (its timelineEnd, else its last clip end) is refused.\n\
--indices FILE gives explicit per-clip indices instead (clips not named get none).\n\n\
A clip src may be an https:// URL: downloaded once into the store (limits: --download-max,\n\
--download-timeout, --download-stall-timeout) and reused by later runs without any network\n\
request (URLs are treated as immutable). Loopback/private/link-local addresses and plain\n\
http:// are refused (source_rejected) unless --allow-private-network (tests only)."
    )]
    Extract {
        #[command(flatten)]
        run: RunArgs,
        /// Print the result JSON on stdout
        #[arg(long)]
        json: bool,
        /// Also write the result JSON to this file
        #[arg(long)]
        result: Option<PathBuf>,
    },
    /// Which frame file of each active clip a renderer shows at composition time(s) T
    /// (extracts first; a warm store answers at once)
    #[command(after_help = "Example:\n  framex frame index.html --at 1.5 --at 3\n\n\
Prints JSON: one entry per time, listing every active clip's 0-based frame index and file\n\
(loops wrap, playback rate applies, the last frame is held to the clip's end, end inclusive).")]
    Frame {
        #[command(flatten)]
        run: RunArgs,
        /// Composition time in seconds (repeatable)
        #[arg(long, required = true, value_name = "T")]
        at: Vec<String>,
    },
    /// Inspect or maintain the frame store
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
        #[command(flatten)]
        cache: CacheArgs,
    },
}

/// What to extract and how (shared by `extract` and `frame`).
#[derive(clap::Args)]
struct RunArgs {
    /// Composition: a JSON manifest (see README) or a HyperFrames HTML file (.html)
    composition: PathBuf,
    /// Output folder for OUT/CLIP_ID/frame_00001.jpg … (hard links into the store). Without it,
    /// each clip's folder inside the store is reported in the result
    #[arg(long, short)]
    out: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    /// Output frame rate, overriding the composition: a number or an exact "30000/1001"
    #[arg(long)]
    fps: Option<String>,
    /// Image format, overriding the composition
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// JPEG quality 1-100, overriding the composition (default 95 ≈ ffmpeg -q:v 2)
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: Option<u8>,
    /// Render SDR: tone-map HDR (PQ/HLG) sources to BT.709 with the Hable curve. Without it, a
    /// composition with any HDR source converts its SDR sources to BT.2020 instead
    #[arg(long)]
    tonemap: bool,
    /// Draw every clip's frames within a WxH box (e.g. 1280x720): scaled down once per frame
    /// (Lanczos), aspect kept, never upscaled; with a clip's own width/height/fit the smaller
    /// side wins
    #[arg(long, value_name = "WxH", value_parser = parse_draw_size)]
    max_size: Option<framex::DrawSize>,
    /// Worker threads (default: number of cores; at most 4 per core)
    #[arg(long, short)]
    jobs: Option<usize>,
    /// No progress bar or summary
    #[arg(long, short)]
    quiet: bool,
    /// Write a Chrome/Perfetto trace of the run (phases, sources, frames) to FILE
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Wall-time limit per source, in seconds ("off" for none), for each stretch of its probe
    /// without reading further into the file and of its decoding without a new frame; a source
    /// that runs out fails its clips (invalid_media while probing, decode_failed while
    /// decoding) and the others carry on [default: 600]
    #[arg(long, value_name = "SECS|off", value_parser = parse_timeout)]
    source_timeout: Option<Timeout>,
    /// Largest remote (https://) source to download, e.g. 500M, 2G [default: 2G]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    download_max: Option<u64>,
    /// Time limit for downloading one remote source, redirects and retries included, in
    /// seconds [default: 600]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    download_timeout: Option<std::time::Duration>,
    /// A download that receives nothing for this long fails, in seconds [default: 30, or the
    /// --download-timeout if shorter]
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    download_stall_timeout: Option<std::time::Duration>,
    /// FOR TESTS AND LOCAL DEVELOPMENT ONLY: allow remote sources on loopback, private and
    /// link-local addresses, and plain http:// (normally refused as source_rejected)
    #[arg(long)]
    allow_private_network: bool,
    /// Only what composition frames A <= n < B show (0-based, frame n at n/fps), overriding the
    /// composition's "frames"; must end within the composition
    #[arg(long, value_name = "A..B", conflicts_with = "time")]
    frames: Option<String>,
    /// The same slice by time: the composition frames n with S <= n/fps < E (seconds: decimals
    /// or exact num/den)
    #[arg(long, value_name = "S..E")]
    time: Option<String>,
    /// Explicit frame indices per clip, a JSON file {"clipId": [{"firstFrame": 450, "frames": 30},
    /// ...]}: only the clips named get frames, only those listed
    #[arg(long, value_name = "FILE")]
    indices: Option<PathBuf>,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// `--max-size WxH`.
fn parse_draw_size(s: &str) -> Result<framex::DrawSize, String> {
    framex::DrawSize::parse(s).ok_or_else(|| {
        format!(
            "expected WxH, two whole numbers of pixels from 2 to {} (e.g. 1280x720)",
            framex::MAX_DRAW_SIDE
        )
    })
}

/// `A..B` as two parts.
fn split_range(s: &str) -> Option<(&str, &str)> {
    let (a, b) = s.split_once("..")?;
    Some((a.trim(), b.trim()))
}

/// The slice and index list the arguments ask for, checked against `comp`; `Err` is the message.
fn slice_options(run: &RunArgs, comp: &framex::Composition, opts: &mut ExtractOptions) -> Result<(), String> {
    if let Some(f) = &run.frames {
        let (a, b) = split_range(f)
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .ok_or_else(|| format!("--frames: expected A..B, two composition frame numbers, got {f:?}"))?;
        opts.frames = Some(framex::FrameRange::new(a, b).map_err(|e| format!("--frames: {}", e.message))?);
    }
    if let Some(t) = &run.time {
        let (s, e) = split_range(t)
            .and_then(|(s, e)| Some((Rational::parse_seconds(s)?, Rational::parse_seconds(e)?)))
            .ok_or_else(|| format!("--time: expected S..E in seconds (decimals or num/den), got {t:?}"))?;
        opts.frames =
            Some(framex::FrameRange::from_time(s, e, comp.fps()).map_err(|e| format!("--time: {}", e.message))?);
    }
    if let Some(path) = &run.indices {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("--indices: cannot read {}: {e}", path.display()))?;
        opts.indices = Some(framex::parse_indices(&text).map_err(|e| format!("--indices: {}: {e}", path.display()))?);
    }
    opts.check_for(comp)
}

/// A positive number of seconds.
fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0 && *v < 1e9)
        .map(std::time::Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, got {s:?}"))
}

/// A `--source-timeout` value: a limit, or none.
#[derive(Clone, Copy)]
struct Timeout(Option<std::time::Duration>);

fn parse_timeout(s: &str) -> Result<Timeout, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
        return Ok(Timeout(None));
    }
    parse_secs(t)
        .map(|d| Timeout(Some(d)))
        .map_err(|_| format!("expected a positive number of seconds or \"off\", got {s:?}"))
}

fn main() -> ExitCode {
    run::<Front>()
}

/// The command, with FFmpeg's part done by `B`.
pub(crate) fn run<B: Backend>() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Cache { .. }) {
        B::quiet_ffmpeg_log();
    }
    match cli.command {
        Command::Probe { file } => match B::probe(&file) {
            Ok(info) => match emit(&serde_json::to_string_pretty(&info).expect("metadata serialises")) {
                Ok(()) => ExitCode::SUCCESS,
                Err(code) => code,
            },
            Err(e) => {
                eprintln!("framex: {e}");
                ExitCode::from(1)
            }
        },
        Command::Cache { command, cache } => cache_command(command, &cache),
        Command::Extract { run, json, result } => match run_extraction::<B>(&run, &B::stop_on_signals()) {
            Ok(res) => report(&res, json, result.as_deref(), run.quiet),
            Err(code) => code,
        },
        Command::Frame { run, at } => {
            let mut times = Vec::new();
            for t in &at {
                match Rational::parse_decimal_precise(t) {
                    Some(r) => times.push((t.clone(), r)),
                    None => {
                        eprintln!("framex: --at: expected a time in seconds, got {t:?}");
                        return ExitCode::from(2);
                    }
                }
            }
            let res = match run_extraction::<B>(&run, &B::stop_on_signals()) {
                Ok(res) => res,
                Err(code) => return code,
            };
            print_errors(&res);
            let lookup = res.lookup();
            let answers: Vec<serde_json::Value> = times
                .iter()
                .map(|(text, t)| {
                    let clips: Vec<serde_json::Value> = lookup
                        .shown_at(*t)
                        .into_iter()
                        .map(|(c, shown)| {
                            let clip = &res.clips[c];
                            match shown {
                                framex::Shown::Frame(k) => {
                                    serde_json::json!({ "id": clip.id, "index": k, "file": clip.frame_path(k) })
                                }
                                // On screen, but outside what this run extracted: say so rather
                                // than name a file that is not there.
                                framex::Shown::NotExtracted(k) => {
                                    serde_json::json!({ "id": clip.id, "index": k, "file": null, "extracted": false })
                                }
                            }
                        })
                        .collect();
                    serde_json::json!({ "t": text.parse::<f64>().unwrap_or(t.to_f64()), "clips": clips })
                })
                .collect();
            if let Err(code) = emit(&serde_json::to_string_pretty(&answers).expect("json")) {
                return code;
            }
            if res.success {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Loads the composition, applies overrides and runs the extraction (with Ctrl-C handling and
/// a progress bar on a terminal). `Err` carries the exit code for unusable input.
fn run_extraction<B: Backend>(run: &RunArgs, cancel: &CancelToken) -> Result<ExtractionResult, ExitCode> {
    let mut opts = ExtractOptions::default();
    opts.out_dir = run.out.clone();
    opts.cache_dir = run.cache.dir();
    if opts.check().is_err() {
        eprintln!("framex: with the cache off, --out is required (nowhere else to put frames)");
        return Err(ExitCode::from(2));
    }
    let mut comp = framex::read_composition(&run.composition).map_err(|e| {
        eprintln!("framex: {e}");
        ExitCode::from(2)
    })?;
    if let Some(f) = &run.fps {
        let fps = Rational::parse_rate(f).ok_or_else(|| {
            eprintln!("framex: --fps: expected a positive number up to 1000 or \"num/den\", got {f:?}");
            ExitCode::from(2)
        })?;
        comp.set_fps(fps).expect("parse_rate returns only valid rates");
    }
    if let Some(f) = run.format {
        comp.format = match f {
            FormatArg::Auto => FormatChoice::Auto,
            FormatArg::Jpg => FormatChoice::Jpg,
            FormatArg::Png => FormatChoice::Png,
        };
    }
    if let Some(q) = run.quality {
        comp.set_quality(q).expect("clap keeps --quality within 1..=100");
    }
    comp.tonemap |= run.tonemap;
    if let Some(b) = run.max_size {
        comp.max_size = comp.max_size.within(b);
    }
    if let Err(msg) = slice_options(run, &comp, &mut opts) {
        eprintln!("framex: {msg}");
        return Err(ExitCode::from(2));
    }
    let show_progress = !run.quiet && std::io::stderr().is_terminal();
    let bar = show_progress.then(|| Arc::new(Bar::default()));
    opts.gc = run.cache.gc();
    opts.jobs = run.jobs.unwrap_or(0);
    opts.cancel = cancel.clone();
    opts.progress = bar.clone().map(|b| b as Arc<dyn Progress>);
    opts.trace = run.trace.is_some();
    if let Some(Timeout(t)) = run.source_timeout {
        opts.source_timeout = t;
    }
    opts.remote.allow_private_network = run.allow_private_network;
    if let Some(m) = run.download_max {
        opts.remote.max_bytes = m;
    }
    if let Some(t) = run.download_timeout {
        opts.remote.set_timeout(t);
    }
    if let Some(t) = run.download_stall_timeout {
        opts.remote.stall_timeout = t;
    }
    opts.remote_store = run.remote.options();
    let res = B::extract(&comp, &opts);
    if let Some(b) = &bar {
        b.finish();
    }
    if let Some(path) = &run.trace {
        let doc = res.trace_document();
        if let Err(e) = std::fs::write(path, serde_json::to_vec(&doc).expect("trace serialises")) {
            eprintln!("framex: cannot write the trace to {}: {e}", path.display());
        }
    }
    Ok(res)
}

fn print_errors(res: &ExtractionResult) {
    for e in &res.errors {
        eprintln!("framex: clip {:?} failed ({}): {}", e.id, e.kind.as_str(), e.message);
    }
}

fn report(res: &ExtractionResult, json: bool, result_file: Option<&std::path::Path>, quiet: bool) -> ExitCode {
    let text = serde_json::to_string_pretty(res).expect("result serialises");
    let mut output_failed = json && emit(&text).is_err();
    if let Some(p) = result_file {
        if let Err(e) = std::fs::write(p, format!("{text}\n")) {
            eprintln!("framex: cannot write the result to {}: {e}", p.display());
            output_failed = true;
        }
    }
    for w in &res.warnings {
        eprintln!("framex: warning: {w}");
    }
    if !quiet {
        let secs = res.duration_ms / 1000.0;
        let b = &res.breakdown;
        eprintln!(
            "framex: {} clip(s), {} frames in {:.2}s ({} decoded, {} encoded, {} linked, {} from the store; {}/{} clips cached)",
            res.clips.len(),
            res.total_frames,
            secs,
            b.frames_decoded,
            b.frames_encoded,
            b.frames_linked,
            b.frames_reused,
            b.clip_hits,
            res.clips.len()
        );
        print_errors(res);
    }
    if res.success && !output_failed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Prints `text` and a newline on stdout. A closed pipe (the reader went away, as with
/// `| head`) ends the output quietly and keeps the command's exit status; any other failure (a
/// full disk) is reported and makes the exit status 1.
fn emit(text: &str) -> Result<(), ExitCode> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            eprintln!("framex: cannot write to standard output: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// Terminal progress: a total bar and one per source (frames, frames/s, ETA), on stderr, only
/// on a terminal.
#[derive(Default)]
struct Bar {
    multi: indicatif::MultiProgress,
    total: std::sync::OnceLock<indicatif::ProgressBar>,
    sources: std::sync::Mutex<std::collections::HashMap<usize, indicatif::ProgressBar>>,
    downloads: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

fn bar_style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

impl Bar {
    fn finish(&self) {
        if let Some(b) = self.total.get() {
            b.finish_and_clear();
        }
        for b in self.sources.lock().expect("bars").values() {
            b.finish_and_clear();
        }
        for b in self.downloads.lock().expect("bars").values() {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn downloading(&self, url: &str, done: u64, total: Option<u64>) {
        let mut bars = self.downloads.lock().expect("bars");
        let b = bars.entry(url.to_string()).or_insert_with(|| {
            let b = self.multi.add(match total {
                Some(t) => indicatif::ProgressBar::new(t),
                None => indicatif::ProgressBar::no_length(),
            });
            b.set_style(bar_style(
                "{msg:>24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            ));
            let name = url.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url);
            b.set_message(format!("↓ {}", name.chars().take(22).collect::<String>()));
            b
        });
        b.set_position(done);
        if total == Some(done) {
            b.finish_and_clear();
        }
    }

    fn planned(&self, frames: u64, sources: usize) {
        let b = self.multi.add(indicatif::ProgressBar::new(frames));
        b.set_style(bar_style("{msg:>24} [{bar:30}] {pos}/{len} frames {per_sec} ETA {eta}"));
        b.set_message(format!("total, {sources} source(s) to decode"));
        let _ = self.total.set(b);
    }

    fn source_planned(&self, source: usize, name: &str, frames: u64) {
        let b = self.multi.add(indicatif::ProgressBar::new(frames));
        b.set_style(bar_style("{msg:>24} [{bar:30}] {pos}/{len} frames {per_sec} ETA {eta}"));
        let short: String = name.chars().take(24).collect();
        b.set_message(short);
        self.sources.lock().expect("bars").insert(source, b);
    }

    fn wrote(&self, source: Option<usize>, n: u64) {
        if let Some(b) = self.total.get() {
            b.inc(n);
        }
        if let Some(b) = source.and_then(|s| self.sources.lock().expect("bars").get(&s).cloned()) {
            b.inc(n);
        }
    }
}

/// `framex cache remote …`: prints the report as JSON; 1 on failure (or unrepaired damage).
fn remote_command(command: RemoteCommand, args: &RemoteArgs) -> ExitCode {
    use framex::cache as c;
    let Some(opts) = args.options() else {
        eprintln!("framex: no remote store: give --remote-store s3://bucket/prefix or set FRAMEX_REMOTE_STORE");
        return ExitCode::from(2);
    };
    fn json(v: &impl serde::Serialize) -> serde_json::Value {
        serde_json::to_value(v).expect("reports serialise")
    }
    let done: Result<(serde_json::Value, bool), String> = match command {
        RemoteCommand::Stats => c::remote_stats(&opts).map(|r| (json(&r), false)),
        RemoteCommand::Gc { older_than } => c::remote_gc(&opts, older_than).map(|r| (json(&r), false)),
        // Damage left in place is exit status 1, as `cache verify` does.
        RemoteCommand::Verify { repair } => {
            c::remote_verify(&opts, repair).map(|r| (json(&r), !r.damaged.is_empty() && !repair))
        }
    };
    match done {
        Ok((v, damaged)) => match emit(&serde_json::to_string_pretty(&v).expect("json")) {
            Ok(()) if damaged => ExitCode::from(1),
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(e) => {
            eprintln!("framex: {e}");
            ExitCode::from(1)
        }
    }
}

fn cache_command(command: CacheCommand, args: &CacheArgs) -> ExitCode {
    use framex::cache::{self as gc, Store};
    if let CacheCommand::Remote { command, remote } = command {
        return remote_command(command, &remote);
    }
    let Some(dir) = args.dir() else {
        eprintln!("framex: the cache is off (--cache-dir / FRAMEX_CACHE_DIR); nothing to do");
        return ExitCode::from(2);
    };
    let store = match Store::open(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("framex: cannot open the cache folder {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    };
    let print = |v: serde_json::Value| emit(&serde_json::to_string_pretty(&v).expect("json"));
    let printed = match command {
        CacheCommand::Stats => print(serde_json::to_value(gc::stats(&store)).expect("json")),
        CacheCommand::Gc { now } => {
            let mut opts = args.gc();
            if now {
                opts.min_age = std::time::Duration::ZERO;
            }
            print(serde_json::to_value(gc::gc(&store, opts)).expect("json"))
        }
        CacheCommand::Clear => print(serde_json::to_value(gc::clear(&store)).expect("json")),
        CacheCommand::Verify { repair } => {
            let r = gc::verify(&store, repair);
            let damaged = !r.damaged.is_empty();
            let printed = print(serde_json::to_value(&r).expect("json"));
            if damaged && !repair {
                return ExitCode::from(1);
            }
            printed
        }
        CacheCommand::Remote { .. } => unreachable!("handled above"),
    };
    match printed {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}
