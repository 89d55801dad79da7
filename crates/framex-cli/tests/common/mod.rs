//! Shared helpers for the `framex` integration tests: fixture synthesis with the ffmpeg CLI,
//! running the `framex` binary in an isolated workspace, and the frame-identity oracle.
//!
//! The oracle is an independent implementation of the sampling contract (contract §2): it reads the
//! source's frame presentation times with `ffprobe`, computes which source frame every output
//! frame must show, decodes both framex's images and *all* source frames (with the ffmpeg CLI) to
//! the same small grayscale raster, and requires the minimum-SSE source frame to be exactly the
//! expected one. Nothing here uses framex's own code.
//!
//! Fixtures are cached in `CARGO_TARGET_TMPDIR/framex-fixtures`, named by a hash of their recipe,
//! so they are synthesized once and shared by every test (and every later run).

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_framex");

/// Any single framex run taking longer than this is treated as a hang.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(180);

// ------------------------------------------------------------------------------------------------
// Exact rationals (the oracle's own; i128 is ample for the times used here)
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Q {
    n: i128,
    d: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl Q {
    pub const ZERO: Q = Q { n: 0, d: 1 };

    pub fn new(n: i128, d: i128) -> Q {
        assert!(d != 0, "zero denominator");
        let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
        let g = gcd(n, d).max(1);
        Q { n: n / g, d: d / g }
    }

    pub fn int(n: i128) -> Q {
        Q { n, d: 1 }
    }

    /// Parses `"30000/1001"`, `"2.5"`, `"-0.000100"` or `"30"` exactly.
    pub fn parse(s: &str) -> Q {
        let s = s.trim();
        if let Some((a, b)) = s.split_once('/') {
            return Q::new(a.trim().parse().unwrap(), b.trim().parse().unwrap());
        }
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let mut n: i128 = if int.is_empty() {
            0
        } else {
            int.parse().unwrap_or_else(|_| panic!("not a number: {s:?}"))
        };
        let mut d: i128 = 1;
        for c in frac.chars() {
            n = n * 10 + c.to_digit(10).unwrap_or_else(|| panic!("not a number: {s:?}")) as i128;
            d *= 10;
        }
        Q::new(if neg { -n } else { n }, d)
    }

    pub fn floor(self) -> i128 {
        self.n.div_euclid(self.d)
    }

    pub fn f64(self) -> f64 {
        self.n as f64 / self.d as f64
    }

    /// `self mod m` in `[0, m)`.
    pub fn rem_euclid(self, m: Q) -> Q {
        let q = (self / m).floor();
        self - m * Q::int(q)
    }

    pub fn max(self, o: Q) -> Q {
        if self >= o {
            self
        } else {
            o
        }
    }
}

impl std::ops::Add for Q {
    type Output = Q;
    fn add(self, o: Q) -> Q {
        Q::new(self.n * o.d + o.n * self.d, self.d * o.d)
    }
}
impl std::ops::Sub for Q {
    type Output = Q;
    fn sub(self, o: Q) -> Q {
        Q::new(self.n * o.d - o.n * self.d, self.d * o.d)
    }
}
impl std::ops::Mul for Q {
    type Output = Q;
    fn mul(self, o: Q) -> Q {
        Q::new(self.n * o.n, self.d * o.d)
    }
}
impl std::ops::Div for Q {
    type Output = Q;
    fn div(self, o: Q) -> Q {
        Q::new(self.n * o.d, self.d * o.n)
    }
}
impl PartialOrd for Q {
    fn partial_cmp(&self, o: &Q) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Q {
    fn cmp(&self, o: &Q) -> Ordering {
        (self.n * o.d).cmp(&(o.n * self.d))
    }
}
impl fmt::Debug for Q {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} (={:.6})", self.n, self.d, self.f64())
    }
}

// ------------------------------------------------------------------------------------------------
// Running external tools
// ------------------------------------------------------------------------------------------------

/// Runs a command to completion; panics with its stderr if it fails. Returns stdout bytes.
pub fn run_tool(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

pub fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    c
}

pub fn ffprobe_json(args: &[&str], file: &Path) -> Value {
    let mut c = Command::new("ffprobe");
    c.args(["-v", "error", "-of", "json"]).args(args).arg(file);
    serde_json::from_slice(&run_tool(&mut c)).expect("ffprobe JSON")
}

// ------------------------------------------------------------------------------------------------
// Fixtures
// ------------------------------------------------------------------------------------------------

fn fixture_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("framex-fixtures");
    std::fs::create_dir_all(&d).unwrap();
    d
}

static FIXTURE_LOCK: Mutex<()> = Mutex::new(());

/// Returns the cached fixture `name` built by `make(path)` (which must write `path`); `recipe`
/// identifies the content (part of the cached file's name, so changing a recipe rebuilds it).
fn cached(name: &str, recipe: &str, make: impl FnOnce(&Path)) -> PathBuf {
    let _guard = FIXTURE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut h = DefaultHasher::new();
    recipe.hash(&mut h);
    let (stem, ext) = name.rsplit_once('.').unwrap();
    let path = fixture_dir().join(format!("{stem}-{:012x}.{ext}", h.finish() & 0xffff_ffff_ffff));
    if !path.exists() {
        let tmp = fixture_dir().join(format!(".{}-{}.partial.{ext}", stem, std::process::id()));
        make(&tmp);
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// A fixture made by one ffmpeg command. `recipe` is everything before the output file,
/// split on whitespace (no argument here contains a space); `{in}` stands for the path of
/// `input` (for fixtures derived from another).
fn ffmpeg_fixture(name: &str, input: Option<&Path>, recipe: &str) -> PathBuf {
    let input_s = input
        .map(|p| p.to_str().expect("UTF-8 path").to_string())
        .unwrap_or_default();
    let key = format!(
        "{recipe} <- {}",
        input
            .map(|p| p.file_name().unwrap().to_string_lossy())
            .unwrap_or_default()
    );
    cached(name, &key, |out| {
        let mut c = ffmpeg();
        c.args(
            recipe
                .split_whitespace()
                .map(|a| if a == "{in}" { input_s.as_str() } else { a }),
        );
        run_tool(c.arg(out));
    })
}

fn once(cell: &'static OnceLock<PathBuf>, f: impl FnOnce() -> PathBuf) -> PathBuf {
    cell.get_or_init(f).clone()
}

const X264: &str = "-c:v libx264 -preset veryfast -pix_fmt yuv420p";

/// 320x180, 30 fps, 5 s H.264 (testsrc2; B-frames, a keyframe every second), time base 1/15360.
pub fn cfr30() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = format!("-f lavfi -i testsrc2=size=320x180:rate=30:duration=5 {X264} -g 30");
        ffmpeg_fixture("cfr30.mp4", None, &r)
    })
}

/// `cfr30` re-muxed with the index (moov) at the front.
pub fn cfr30_faststart() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        ffmpeg_fixture(
            "cfr30-faststart.mp4",
            Some(&cfr30()),
            "-i {in} -c copy -movflags +faststart",
        )
    })
}

/// 320x180, 24 fps, 3 s H.264.
pub fn cfr24() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = format!("-f lavfi -i testsrc2=size=320x180:rate=24:duration=3 {X264} -g 24");
        ffmpeg_fixture("cfr24.mp4", None, &r)
    })
}

/// 320x180, 30 fps, 2 s H.264: the loop / held-tail source and the base of the rotated clips.
pub fn short2s() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = format!("-f lavfi -i testsrc2=size=320x180:rate=30:duration=2 {X264} -g 30");
        ffmpeg_fixture("short2s.mp4", None, &r)
    })
}

/// contract §7 VFR recipe at 320x180: 10 s of 60 fps with the frames in [1,2], [3,4], [5,6], [7,8]
/// dropped (four ~1 s gaps), one keyframe. Checked: 1 keyframe, 4 gaps > 1 s (356 frames).
pub fn vfr() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = format!(
            "-f lavfi -i testsrc2=size=320x180:rate=60:duration=10 \
             -vf select='not(between(t,1,2)+between(t,3,4)+between(t,5,6)+between(t,7,8))' \
             -fps_mode vfr {X264} -g 1000 -keyint_min 1000 -sc_threshold 0"
        );
        let p = ffmpeg_fixture("vfr.mp4", None, &r);
        let pk = packets(&p);
        assert_eq!(
            pk.iter().filter(|p| p.key).count(),
            1,
            "VFR fixture must have a single keyframe"
        );
        let mut pts: Vec<i64> = pk.iter().map(|p| p.pts).collect();
        pts.sort();
        let gaps = pts.windows(2).filter(|w| w[1] - w[0] > 15360).count(); // > 1 s at 1/15360
        assert_eq!(gaps, 4, "VFR fixture must have four gaps longer than 1 s");
        p
    })
}

/// 320x180, 30 fps, 2 s VP9 with real alpha (yuva420p, `alpha_mode=1`) that varies in space and
/// time: a horizontal sine ramp, `128 + 100·sin(x/20 + 3t)` (alpha 28..228), moving each frame.
/// Times are whole milliseconds (0, 33, 67, …): the sampling tolerance matters here.
pub fn alpha_webm() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = "-f lavfi -i testsrc2=s=320x180:d=2:r=30 \
                 -f lavfi -i color=black:s=320x180:d=2:r=30,format=gray,geq=lum='128+100*sin(X/20+T*3)' \
                 -filter_complex [0:v]format=yuva420p[c];[1:v]format=gray[a];[c][a]alphamerge,format=yuva420p[v] \
                 -map [v] -c:v libvpx-vp9 -pix_fmt yuva420p -auto-alt-ref 0 -deadline realtime -cpu-used 8 -b:v 1M";
        let p = ffmpeg_fixture("alpha.webm", None, r);
        let v = ffprobe_json(&["-show_entries", "stream_tags"], &p);
        let tags = &v["streams"][0]["tags"];
        let mode = tags
            .as_object()
            .and_then(|t| t.iter().find(|(k, _)| k.eq_ignore_ascii_case("alpha_mode")))
            .map(|(_, v)| v.as_str().unwrap_or("").to_string());
        assert_eq!(
            mode.as_deref(),
            Some("1"),
            "alpha fixture must carry ALPHA_MODE=1: {tags}"
        );
        p
    })
}

/// `short2s` tagged as a phone clip shot in portrait: the display matrix says "rotate 90°
/// clockwise to show" (ffprobe's side data `rotation` is -90, the counter-clockwise angle),
/// which is how phones store portrait video. ffmpeg shows it as 180x320.
pub fn rot_phone() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        // ffmpeg 5.1's mov muxer turns a `rotate` tag of 270 into a matrix that ffprobe reports
        // as rotation -90 (ffmpeg rotates it clockwise to display). Checked below.
        let p = ffmpeg_fixture(
            "rot-phone.mp4",
            Some(&short2s()),
            "-i {in} -c copy -metadata:s:v:0 rotate=270",
        );
        assert_eq!(
            ffprobe_rotation(&p),
            -90,
            "phone fixture: ffprobe must report rotation -90"
        );
        p
    })
}

/// The opposite rotation: ffprobe reports rotation 90 (ffmpeg rotates it 90° counter-clockwise,
/// i.e. 270° clockwise, to display).
pub fn rot_ccw() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let p = ffmpeg_fixture(
            "rot-ccw.mp4",
            Some(&short2s()),
            "-i {in} -c copy -metadata:s:v:0 rotate=90",
        );
        assert_eq!(ffprobe_rotation(&p), 90, "ccw fixture: ffprobe must report rotation 90");
        p
    })
}

/// 1280x720, 30 fps, 20 s H.264 (600 frames): enough work that an interrupt lands mid-run.
pub fn long720() -> PathBuf {
    static C: OnceLock<PathBuf> = OnceLock::new();
    once(&C, || {
        let r = "-f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 \
                 -c:v libx264 -preset ultrafast -g 60 -pix_fmt yuv420p";
        ffmpeg_fixture("long720.mp4", None, r)
    })
}

/// A fixture made by one ffmpeg command (see `ffmpeg_fixture`), for tests that need their own
/// recipes: cached by recipe like the others.
pub fn synth_fixture(name: &str, input: Option<&Path>, recipe: &str) -> PathBuf {
    ffmpeg_fixture(name, input, recipe)
}

/// ffprobe's display-matrix rotation (counter-clockwise degrees, as `av_display_rotation_get`).
pub fn ffprobe_rotation(p: &Path) -> i64 {
    let v = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "stream_side_data_list"], p);
    v["streams"][0]["side_data_list"]
        .as_array()
        .and_then(|l| l.iter().find_map(|s| s.get("rotation")))
        .and_then(|r| r.as_i64())
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Packet {
    pub pts: i64,
    pub key: bool,
}

/// Video packets of a file (ffprobe `-show_packets`).
pub fn packets(p: &Path) -> Vec<Packet> {
    let v = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "packet=pts,flags"], p);
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| Packet {
            pts: k["pts"].as_i64().unwrap_or(i64::MIN),
            key: k["flags"].as_str().unwrap_or("").contains('K'),
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Workspace + running framex
// ------------------------------------------------------------------------------------------------

/// One test's private folder (sources, manifest, output, framex cache), on the same filesystem
/// as the fixtures so they can be hard-linked in. Removed when dropped.
pub struct Work {
    pub dir: tempfile::TempDir,
}

/// The outcome of one `framex` run.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// stdout parsed as JSON, when it is.
    pub json: Option<Value>,
    pub elapsed: Duration,
}

impl Work {
    pub fn new() -> Work {
        let dir = tempfile::Builder::new()
            .prefix("framex-test-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        Work { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn out(&self) -> PathBuf {
        self.path().join("out")
    }

    pub fn cache(&self) -> PathBuf {
        self.path().join("cache")
    }

    /// Puts a fixture into the workspace under `name` (hard link, else copy).
    pub fn add(&self, name: &str, fixture: &Path) -> PathBuf {
        let dst = self.path().join(name);
        if std::fs::hard_link(fixture, &dst).is_err() {
            std::fs::copy(fixture, &dst).unwrap();
        }
        dst
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let dst = self.path().join(name);
        std::fs::write(&dst, bytes).unwrap();
        dst
    }

    pub fn write_manifest(&self, manifest: &Value) -> PathBuf {
        self.write("comp.json", serde_json::to_string_pretty(manifest).unwrap().as_bytes())
    }

    /// A `framex` command with this workspace's private cache.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.path())
            .env("FRAMEX_CACHE_DIR", self.cache())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c
    }

    /// `framex extract comp.json --out out --json <extra>`; waits (bounded by [`RUN_TIMEOUT`]).
    pub fn extract(&self, manifest: &Value, extra: &[&str]) -> Run {
        self.extract_file(&self.write_manifest(manifest), extra)
    }

    /// `framex extract <composition> --out out --json <extra>` for a composition file already
    /// written (an HTML file, a manifest outside the workspace).
    pub fn extract_file(&self, composition: &Path, extra: &[&str]) -> Run {
        let mut c = self.command();
        c.arg("extract")
            .arg(composition)
            .arg("--out")
            .arg(self.out())
            .arg("--json")
            .args(extra);
        run(c)
    }

    pub fn probe(&self, file: &Path) -> Run {
        let mut c = self.command();
        c.arg("probe").arg(file);
        run(c)
    }

    /// Output files of a clip, sorted by name.
    pub fn files(&self, id: &str) -> Vec<PathBuf> {
        list_files(&self.out().join(id))
    }
}

pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Every path under `dir` (recursively), files and folders.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Runs a prepared command, capturing output, killing it if it exceeds [`RUN_TIMEOUT`].
pub fn run(mut c: Command) -> Run {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot start {BIN}: {e}"));
    let (stdout, stderr) = drain(&mut child);
    let status = wait_or_kill(&mut child, started, &format!("{c:?}"));
    let elapsed = started.elapsed();
    finish(status, stdout, stderr, elapsed)
}

type Pipe = std::thread::JoinHandle<String>;

/// Starts threads reading the child's stdout and stderr (so it never blocks on a full pipe).
pub fn drain(child: &mut std::process::Child) -> (Pipe, Pipe) {
    let mut o = child.stdout.take().unwrap();
    let mut e = child.stderr.take().unwrap();
    let to = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = o.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let te = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = e.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    (to, te)
}

pub fn finish(status: ExitStatus, stdout: Pipe, stderr: Pipe, elapsed: Duration) -> Run {
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    let json = serde_json::from_str(stdout.trim()).ok();
    Run {
        status,
        stdout,
        stderr,
        json,
        elapsed,
    }
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The result JSON (panics with the run's output if stdout was not JSON).
    pub fn result(&self) -> &Value {
        self.json
            .as_ref()
            .unwrap_or_else(|| panic!("stdout is not JSON\n{self}"))
    }

    /// The result entry of clip `id` (panics if absent).
    pub fn clip(&self, id: &str) -> &Value {
        self.find_clip(id)
            .unwrap_or_else(|| panic!("no clip {id:?} in the result\n{self}"))
    }

    pub fn find_clip(&self, id: &str) -> Option<&Value> {
        self.result()["clips"].as_array()?.iter().find(|c| c["id"] == id)
    }

    pub fn error(&self, id: &str) -> Option<&Value> {
        self.result()["errors"].as_array()?.iter().find(|c| c["id"] == id)
    }

    pub fn breakdown(&self, counter: &str) -> u64 {
        self.result()["breakdown"][counter]
            .as_u64()
            .unwrap_or_else(|| panic!("breakdown.{counter} missing or not an integer\n{self}"))
    }

    /// Asserts exit 0, `success: true`, no errors.
    pub fn assert_ok(&self) {
        assert_eq!(self.code(), Some(0), "framex should exit 0\n{self}");
        assert_eq!(self.result()["success"], json!(true), "success should be true\n{self}");
        let errs = self.result()["errors"].as_array().map(|a| a.len()).unwrap_or(0);
        assert_eq!(errs, 0, "no errors expected\n{self}");
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = |s: &str| -> String {
            if s.len() > 6000 {
                let mut cut = 6000;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                format!("{}…[{} bytes]", &s[..cut], s.len())
            } else {
                s.to_string()
            }
        };
        write!(
            f,
            "--- framex exit: {:?} after {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status,
            self.elapsed,
            cut(&self.stdout),
            cut(&self.stderr)
        )
    }
}

/// A manifest with one clip per entry of `videos`.
pub fn manifest(fps: Value, videos: Vec<Value>) -> Value {
    json!({ "fps": fps, "videos": videos })
}

/// A clip entry: `{id, src, start, end, mediaStart, loop}`.
pub fn clip(id: &str, src: &str, start: f64, end: f64, media_start: f64, looping: bool) -> Value {
    json!({ "id": id, "src": src, "start": start, "end": end, "mediaStart": media_start,
            "loop": looping, "playbackRate": 1 })
}

// ------------------------------------------------------------------------------------------------
// Oracle: source frame times and the sampling rule
// ------------------------------------------------------------------------------------------------

/// Presentation times of a source's decoded video frames, in decode-output (= presentation)
/// order, relative to the container's start time (media time 0, the origin of ffmpeg's `-ss`).
#[derive(Debug, Clone)]
pub struct SourceTimes {
    pub times: Vec<Q>,
    /// One tick of the stream's time base.
    pub tick: Q,
    /// The container's duration (the playable length used for loops and the held tail).
    pub duration: Q,
}

pub fn source_times(p: &Path) -> SourceTimes {
    let v = ffprobe_json(
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts,best_effort_timestamp:stream=time_base:format=start_time,duration",
        ],
        p,
    );
    let tick = Q::parse(v["streams"][0]["time_base"].as_str().expect("time_base"));
    let start = v["format"]["start_time"].as_str().map(Q::parse).unwrap_or(Q::ZERO);
    let duration = Q::parse(v["format"]["duration"].as_str().expect("format duration"));
    let times: Vec<Q> = v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| {
            let ts = f["best_effort_timestamp"]
                .as_i64()
                .or_else(|| f["pts"].as_i64())
                .expect("frame timestamp");
            Q::int(ts as i128) * tick - start
        })
        .collect();
    assert!(!times.is_empty(), "{} has no frames", p.display());
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "{}: frame times not increasing",
        p.display()
    );
    SourceTimes { times, tick, duration }
}

impl SourceTimes {
    /// The tolerance of contract §2: one tick of the time base, at least 1/1000 of an output frame
    /// — and never more than 1/16 of the source's (median) frame interval, so a coarse time base
    /// (y4m ticks once per frame) cannot shift every sample by a whole frame.
    pub fn tolerance(&self, fps: Q) -> Q {
        let mut gaps: Vec<Q> = self.times.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort();
        let tick = match gaps.get(gaps.len() / 2) {
            Some(&median) => self.tick.min(median / Q::int(16)),
            None => self.tick,
        };
        tick.max(Q::new(1, 1000) / fps)
    }

    /// The source frame a player shows at media time `m`: greatest time `<= m + tol`, else the
    /// first frame.
    pub fn frame_at(&self, m: Q, fps: Q) -> usize {
        let limit = m + self.tolerance(fps);
        // Before the first frame: the first frame.
        self.times.iter().rposition(|&t| t <= limit).unwrap_or(0)
    }

    /// Media time of output frame `k` of a clip: `mediaStart + k·rate/fps`, wrapped into
    /// `[mediaStart, duration)` when the clip loops.
    pub fn media_time(&self, k: usize, media_start: Q, rate: Q, fps: Q, looping: bool) -> Q {
        let m = media_start + Q::int(k as i128) * rate / fps;
        if looping {
            media_start + (m - media_start).rem_euclid(self.duration - media_start)
        } else {
            m
        }
    }

    /// Number of output frames of a clip `[start, end)` at `fps` (sample times `k/fps` inside the
    /// window and, unless it loops, with media time before the source's end).
    pub fn frame_count(&self, window: Q, media_start: Q, rate: Q, fps: Q, looping: bool) -> usize {
        let mut k = 0usize;
        loop {
            let t = Q::int(k as i128) / fps;
            if t >= window {
                return k;
            }
            if !looping && media_start + t * rate >= self.duration {
                return k;
            }
            k += 1;
        }
    }

    /// Expected source frame index of every output frame of a clip.
    pub fn expected(&self, window: Q, media_start: Q, rate: Q, fps: Q, looping: bool) -> Vec<usize> {
        let n = self.frame_count(window, media_start, rate, fps, looping);
        (0..n)
            .map(|k| self.frame_at(self.media_time(k, media_start, rate, fps, looping), fps))
            .collect()
    }
}

// ------------------------------------------------------------------------------------------------
// Oracle: rasters and matching
// ------------------------------------------------------------------------------------------------

/// Raster size used for matching (small: every source frame is compared with every output frame).
#[derive(Clone, Copy, Debug)]
pub struct Size {
    pub w: u32,
    pub h: u32,
}

pub const LANDSCAPE: Size = Size { w: 64, h: 36 };
pub const PORTRAIT: Size = Size { w: 36, h: 64 };

/// What to read from the pixels: brightness, or the alpha channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plane {
    Luma,
    Alpha,
}

fn raster_filter(size: Size, plane: Plane) -> String {
    // Alpha is always full range; say so, or swscale "expands" a video's alpha plane as if it
    // were limited-range luma while leaving a PNG's alone.
    let pre = if plane == Plane::Alpha {
        "alphaextract,setparams=range=pc,"
    } else {
        ""
    };
    format!("{pre}scale={}:{}:flags=area,format=gray", size.w, size.h)
}

fn split_rasters(bytes: Vec<u8>, size: Size) -> Vec<Vec<u8>> {
    let n = (size.w * size.h) as usize;
    assert_eq!(bytes.len() % n, 0, "raw output is not a whole number of rasters");
    bytes.chunks(n).map(|c| c.to_vec()).collect()
}

/// Every decoded frame of a video as a raster (ffmpeg applies rotation metadata itself). For
/// VP9 with alpha the libvpx decoder is used (ffmpeg's native one drops alpha).
pub fn video_rasters(p: &Path, size: Size, plane: Plane) -> Vec<Vec<u8>> {
    let mut c = ffmpeg();
    if p.extension().is_some_and(|e| e == "webm") {
        c.args(["-c:v", "libvpx-vp9"]);
    }
    c.arg("-i")
        .arg(p)
        .args(["-map", "0:v:0", "-vf", &raster_filter(size, plane)]);
    c.args(["-fps_mode", "passthrough", "-f", "rawvideo", "-"]);
    split_rasters(run_tool(&mut c), size)
}

/// Rasters of framex's output images `frame_00001.<ext>`… in `dir` (one ffmpeg run for all).
pub fn image_rasters(dir: &Path, ext: &str, size: Size, plane: Plane) -> Vec<Vec<u8>> {
    let mut c = ffmpeg();
    c.args(["-f", "image2", "-framerate", "30", "-start_number", "1", "-i"]);
    c.arg(dir.join(format!("frame_%05d.{ext}")));
    c.args([
        "-vf",
        &raster_filter(size, plane),
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-",
    ]);
    split_rasters(run_tool(&mut c), size)
}

/// Raster of one image file.
pub fn file_raster(p: &Path, size: Size, plane: Plane) -> Vec<u8> {
    let mut c = ffmpeg();
    c.arg("-i").arg(p).args([
        "-vf",
        &raster_filter(size, plane),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-",
    ]);
    let mut v = split_rasters(run_tool(&mut c), size);
    assert_eq!(v.len(), 1);
    v.pop().unwrap()
}

pub fn sse(a: &[u8], b: &[u8]) -> u64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| ((x as i64 - y as i64) * (x as i64 - y as i64)) as u64)
        .sum()
}

/// Index and SSE of the source raster closest to `img`.
pub fn best_match(img: &[u8], sources: &[Vec<u8>]) -> (usize, u64) {
    sources
        .iter()
        .enumerate()
        .map(|(i, s)| (i, sse(img, s)))
        .min_by_key(|&(i, e)| (e, i))
        .unwrap()
}

/// Asserts that output frame `k` is, of all source frames, closest to source frame
/// `expected[k]` (ties with a pixel-identical source frame allowed). Lists every mismatch.
pub fn assert_frames_match(
    label: &str,
    outputs: &[Vec<u8>],
    sources: &[Vec<u8>],
    times: &SourceTimes,
    expected: &[usize],
) {
    assert_eq!(outputs.len(), expected.len(), "{label}: number of output frames");
    assert_eq!(
        sources.len(),
        times.times.len(),
        "{label}: decoded source frames vs ffprobe frames"
    );
    let mut bad = Vec::new();
    for (k, (img, &want)) in outputs.iter().zip(expected).enumerate() {
        let (got, e_got) = best_match(img, sources);
        if got != want && sources[got] != sources[want] {
            bad.push(format!(
                "  output frame {k} (file frame_{:05}): expected source frame #{want} (t={:.6}, SSE {}), \
                 best match is #{got} (t={:.6}, SSE {e_got})",
                k + 1,
                times.times[want].f64(),
                sse(img, &sources[want]),
                times.times[got].f64(),
            ));
        }
    }
    if !bad.is_empty() {
        let n = bad.len();
        bad.truncate(25);
        panic!(
            "{label}: {n} of {} output frames show the wrong source frame:\n{}",
            outputs.len(),
            bad.join("\n")
        );
    }
}

/// Checks a finished clip end to end: result entry, files on disk (count, names, extension) and
/// the identity of every frame against the oracle's `expected` source frames of `src`.
pub fn check_clip(run: &Run, work: &Work, id: &str, src: &Path, ext: &str, size: Size, expected: &[usize]) {
    let c = run.clip(id);
    assert_eq!(
        c["frames"].as_u64(),
        Some(expected.len() as u64),
        "clip {id}: result frames\n{run}"
    );
    assert_eq!(c["format"].as_str(), Some(ext), "clip {id}: result format\n{run}");
    let dir = work.out().join(id);
    let files = work.files(id);
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: Vec<String> = (1..=expected.len()).map(|i| format!("frame_{i:05}.{ext}")).collect();
    assert_eq!(names, want, "clip {id}: files in {}", dir.display());
    let reported = Path::new(c["dir"].as_str().expect("dir"));
    assert!(
        reported.is_absolute(),
        "clip {id}: dir should be absolute: {}",
        reported.display()
    );
    assert_eq!(
        std::fs::canonicalize(reported).ok(),
        std::fs::canonicalize(&dir).ok(),
        "clip {id}: result dir should be OUT/{id}"
    );
    let times = source_times(src);
    let sources = video_rasters(src, size, Plane::Luma);
    let outputs = image_rasters(&dir, ext, size, Plane::Luma);
    assert_frames_match(&format!("clip {id}"), &outputs, &sources, &times, expected);
}

/// Width and height of an image or video (ffprobe's coded size for images).
pub fn dimensions(p: &Path) -> (u64, u64) {
    let v = ffprobe_json(
        &["-select_streams", "v:0", "-show_entries", "stream=width,height,pix_fmt"],
        p,
    );
    (
        v["streams"][0]["width"].as_u64().unwrap(),
        v["streams"][0]["height"].as_u64().unwrap(),
    )
}

pub fn pix_fmt(p: &Path) -> String {
    let v = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "stream=pix_fmt"], p);
    v["streams"][0]["pix_fmt"].as_str().unwrap_or("").to_string()
}

/// Number of distinct values in a list of source-frame indices.
pub fn distinct(v: &[usize]) -> usize {
    let mut s = v.to_vec();
    s.sort();
    s.dedup();
    s.len()
}

/// Waits for `child`, killing it (and failing the test) if it runs past `RUN_TIMEOUT` counted
/// from `started`.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    started: std::time::Instant,
    what: &str,
) -> std::process::ExitStatus {
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
