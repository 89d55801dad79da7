//! Remote sources (contract §1 `src` as a URL, §4 store, §6 `source_rejected`): downloaded once into
//! the store keyed by content and reused without the network, limits on size and time,
//! redirects checked hop by hop, resumable downloads, and private addresses refused unless the
//! testing allowance is given.
//!
//! Everything is served by a small std-only HTTP/1.1 server on 127.0.0.1 (an ephemeral port),
//! reached with `--allow-private-network` (which also permits plain `http://`). No test touches
//! any other address: the refusal tests are refused before connecting.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

const ALLOW: &str = "--allow-private-network";

// ------------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server (one thread per connection, `Connection: close`)
// ------------------------------------------------------------------------------------------------

/// How a path is answered.
#[derive(Clone)]
enum Mode {
    /// The body, with `Content-Length` (unless `length` is false: close-delimited), an ETag and
    /// `Range: bytes=N-` support (unless `ranges` is false: always the whole body with 200).
    Serve { ranges: bool, length: bool },
    /// Headers (full length), `after` body bytes, then silence until the server stops (≤ 20 s).
    Stall { after: usize },
    /// The body in `chunk`-byte pieces every `every` (stops after 20 s).
    Trickle { chunk: usize, every: Duration },
    /// Like `Serve` (honouring ranges only if `ranges`), but the first `times` responses stop
    /// after `after` body bytes and the connection is closed.
    Drop { after: usize, times: usize, ranges: bool },
    /// `302 Found` to this location (absolute or relative).
    Redirect(String),
    /// This status with an empty body.
    Status(u16),
}

#[derive(Clone)]
struct Route {
    mode: Mode,
    body: Arc<Vec<u8>>,
}

#[derive(Clone, Debug)]
struct Req {
    path: String,
    range: Option<String>,
    if_range: Option<String>,
}

struct Server {
    port: u16,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

/// How long any one response may hold its connection.
const HOLD_LIMIT: Duration = Duration::from_secs(20);

impl Server {
    fn start(routes: Vec<(&str, Mode, Arc<Vec<u8>>)>) -> Server {
        let routes: HashMap<String, Route> = routes
            .into_iter()
            .map(|(p, mode, body)| (p.to_string(), Route { mode, body }))
            .collect();
        let routes = Arc::new(routes);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let accept = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(300) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (routes, log, stop, counts) =
                                (routes.clone(), log.clone(), stop.clone(), counts.clone());
                            std::thread::spawn(move || serve(s, &routes, &log, &stop, &counts));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Server {
            port,
            log,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    fn requests_for(&self, path: &str) -> Vec<Req> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Stops accepting (the port is closed afterwards) and ends held connections.
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn etag_of(body: &[u8]) -> String {
    format!("\"v1-{}\"", body.len())
}

fn serve(
    mut s: TcpStream,
    routes: &HashMap<String, Route>,
    log: &Mutex<Vec<Req>>,
    stop: &AtomicBool,
    counts: &Mutex<HashMap<String, usize>>,
) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
        if head.len() > 64 << 10 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let header = |name: &str| {
        text.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let req = Req {
        path: path.clone(),
        range: header("range"),
        if_range: header("if-range"),
    };
    log.lock().unwrap().push(req.clone());
    let n = {
        let mut c = counts.lock().unwrap();
        let e = c.entry(path.clone()).or_insert(0);
        *e += 1;
        *e - 1
    };
    let Some(route) = routes.get(&path) else {
        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let body = &route.body[..];
    let etag = etag_of(body);
    // (status line, extra headers, body slice) of a Serve-like answer.
    let answer = |ranges: bool| -> (String, String, &[u8]) {
        if ranges {
            if let Some(from) = req
                .range
                .as_deref()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                let matches = req.if_range.as_deref().is_none_or(|v| v == etag);
                if matches && from < body.len() {
                    return (
                        "206 Partial Content".into(),
                        format!("Content-Range: bytes {from}-{}/{}\r\n", body.len() - 1, body.len()),
                        &body[from..],
                    );
                }
            }
        }
        ("200 OK".into(), String::new(), body)
    };
    let head = |status: &str, extra: &str, len: Option<usize>| {
        let len = len.map(|l| format!("Content-Length: {l}\r\n")).unwrap_or_default();
        format!("HTTP/1.1 {status}\r\n{len}ETag: {etag}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n")
    };
    let hold = |s: &mut TcpStream| {
        let t = Instant::now();
        while !stop.load(Ordering::Relaxed) && t.elapsed() < HOLD_LIMIT {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = s.shutdown(Shutdown::Both);
    };
    match &route.mode {
        Mode::Serve { ranges, length } => {
            let (status, extra, slice) = answer(*ranges);
            let _ = s.write_all(head(&status, &extra, length.then_some(slice.len())).as_bytes());
            let _ = s.write_all(slice);
        }
        Mode::Stall { after } => {
            let _ = s.write_all(head("200 OK", "", Some(body.len())).as_bytes());
            let _ = s.write_all(&body[..*after]);
            let _ = s.flush();
            hold(&mut s);
        }
        Mode::Trickle { chunk, every } => {
            let _ = s.write_all(head("200 OK", "", Some(body.len())).as_bytes());
            let t = Instant::now();
            for piece in body.chunks(*chunk) {
                if stop.load(Ordering::Relaxed) || t.elapsed() > HOLD_LIMIT || s.write_all(piece).is_err() {
                    break;
                }
                std::thread::sleep(*every);
            }
        }
        Mode::Drop { after, times, ranges } => {
            let (status, extra, slice) = answer(*ranges);
            let _ = s.write_all(head(&status, &extra, Some(slice.len())).as_bytes());
            if n < *times {
                let _ = s.write_all(&slice[..(*after).min(slice.len())]);
                let _ = s.flush();
                let _ = s.shutdown(Shutdown::Both);
            } else {
                let _ = s.write_all(slice);
            }
        }
        Mode::Redirect(to) => {
            let _ = s.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
        Mode::Status(code) => {
            let _ = s.write_all(
                format!("HTTP/1.1 {code} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
            );
        }
    }
    let _ = s.flush();
}

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn video() -> Arc<Vec<u8>> {
    Arc::new(std::fs::read(cfr30()).unwrap())
}

fn serve_video() -> Mode {
    Mode::Serve {
        ranges: true,
        length: true,
    }
}

/// One clip `v` showing the first second of `src`.
fn one_clip(src: &str) -> Value {
    manifest(json!(30), vec![clip("v", src, 0.0, 1.0, 0.0, false)])
}

fn store_root(w: &Work) -> PathBuf {
    w.cache().join("framex-v1")
}

/// Name → bytes of every frame file of a folder.
fn frame_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    list_files(dir)
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// The frames of clip `v` of `m` extracted from the local fixture (its own workspace and store).
fn local_frames(start: f64, end: f64) -> Vec<(String, Vec<u8>)> {
    let w = Work::new();
    w.add("local.mp4", &cfr30());
    let run = w.extract(
        &manifest(json!(30), vec![clip("v", "local.mp4", start, end, 0.0, false)]),
        &[],
    );
    run.assert_ok();
    let f = frame_bytes(&w.out().join("v"));
    assert!(!f.is_empty());
    f
}

fn assert_error(run: &Run, id: &str, kind: &str, needles: &[&str]) {
    let e = run
        .error(id)
        .unwrap_or_else(|| panic!("clip {id} should fail with {kind}\n{run}"));
    assert_eq!(e["kind"], json!(kind), "clip {id}: error kind\n{run}");
    let msg = e["message"].as_str().unwrap_or("");
    for n in needles {
        assert!(
            msg.contains(n),
            "clip {id}: the message should mention {n:?}: {msg}\n{run}"
        );
    }
    assert_eq!(run.code(), Some(1), "a failed clip exits 1\n{run}");
}

/// No downloaded source in the store, and `cache verify` finds nothing wrong.
fn assert_no_torn_download(w: &Work, when: &str) {
    let remote: Vec<PathBuf> = walk(&store_root(w).join("src"))
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("remote."))
        .collect();
    assert!(
        remote.is_empty(),
        "{when}: a failed download left files in src/: {remote:?}"
    );
    assert_verify_clean(w, when);
}

fn cache(w: &Work, args: &[&str]) -> Run {
    let mut c = w.command();
    c.arg("cache").args(args).arg("--cache-dir").arg(w.cache());
    run(c)
}

fn assert_verify_clean(w: &Work, when: &str) {
    let r = cache(w, &["verify"]);
    assert_eq!(r.code(), Some(0), "{when}: `framex cache verify` must pass\n{r}");
    assert_eq!(r.result()["damaged"], json!([]), "{when}: verify found damage\n{r}");
}

fn partials(w: &Work) -> Vec<PathBuf> {
    list_files(&store_root(w).join("downloads"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .collect()
}

/// `…/src/<hash>/clips/<key>` → `<hash>`.
fn source_hash_of(clip_dir: &Path) -> String {
    clip_dir
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

#[test]
fn first_run_downloads_and_later_runs_hit_the_store_without_the_network() {
    let mut server = Server::start(vec![("/media/clip.mp4", serve_video(), video())]);
    let w = Work::new();
    let url = server.url("/media/clip.mp4");
    let m = one_clip(&url);

    let first = w.extract(&m, &[ALLOW]);
    first.assert_ok();
    assert_eq!(server.requests_for("/media/clip.mp4").len(), 1, "one GET\n{first}");
    assert_eq!(first.breakdown("downloads"), 1, "{first}");
    assert_eq!(first.breakdown("downloadBytes"), video().len() as u64, "{first}");
    assert_eq!(first.clip("v")["src"], json!(url));
    assert_eq!(first.clip("v")["frames"], json!(30));
    let reference = local_frames(0.0, 1.0);
    assert_eq!(
        frame_bytes(&w.out().join("v")),
        reference,
        "remote frames differ from a local run"
    );
    // The download lives in its source's folder, recorded by URL.
    let stored: Vec<PathBuf> = walk(&store_root(&w).join("src"))
        .into_iter()
        .filter(|p| p.file_name().unwrap() == "remote.mp4")
        .collect();
    assert_eq!(stored.len(), 1, "one downloaded source file");
    assert_eq!(std::fs::read(&stored[0]).unwrap(), *video(), "downloaded bytes");
    assert_eq!(list_files(&store_root(&w).join("urls")).len(), 1);
    assert!(partials(&w).is_empty(), "no partial download left");

    // No network from here on: the server is gone (its port refuses connections).
    server.shutdown();
    std::fs::remove_dir_all(w.out()).unwrap();
    let second = w.extract(&m, &[ALLOW]);
    second.assert_ok();
    assert_eq!(second.breakdown("downloads"), 0, "{second}");
    assert_eq!(second.breakdown("downloadBytes"), 0, "{second}");
    assert_eq!(second.clip("v")["cached"], json!(true), "a whole-clip hit\n{second}");
    assert_eq!(frame_bytes(&w.out().join("v")), reference);

    // Another composition (another window of the same URL) reuses the download too.
    let other = manifest(json!(30), vec![clip("w", &url, 0.0, 2.0, 1.0, false)]);
    let third = w.extract(&other, &[ALLOW]);
    third.assert_ok();
    assert_eq!(third.breakdown("downloads"), 0, "{third}");
    assert_eq!(third.clip("w")["frames"], json!(60));
    assert!(
        third.breakdown("framesDecoded") > 0,
        "new frames are decoded from the stored file"
    );
    assert_eq!(server.requests().len(), 1, "only the first run used the network");
    assert_verify_clean(&w, "after the hits");
    let stats = cache(&w, &["stats"]);
    assert_eq!(stats.result()["remoteFiles"], json!(1), "{stats}");
    assert_eq!(stats.result()["urlRecords"], json!(1), "{stats}");
}

#[test]
fn a_remote_copy_and_a_local_copy_share_one_source() {
    let server = Server::start(vec![("/a.mp4", serve_video(), video())]);
    let w = Work::new();
    // Remote first, frames left in the store (no --out).
    let mut c = w.command();
    let m = w.write_manifest(&one_clip(&server.url("/a.mp4")));
    c.arg("extract").arg(&m).arg("--json").arg(ALLOW);
    let remote = run(c);
    remote.assert_ok();
    let remote_dir = PathBuf::from(remote.clip("v")["dir"].as_str().unwrap());

    // The same bytes as a local file: the same source (content key), a whole-clip hit.
    w.add("local.mp4", &cfr30());
    let m = w.write_manifest(&one_clip("local.mp4"));
    let mut c = w.command();
    c.arg("extract").arg(&m).arg("--json");
    let local = run(c);
    local.assert_ok();
    assert_eq!(local.clip("v")["cached"], json!(true), "{local}");
    let local_dir = PathBuf::from(local.clip("v")["dir"].as_str().unwrap());
    assert_eq!(local_dir, remote_dir, "one clip folder for both");
    assert_eq!(source_hash_of(&local_dir), source_hash_of(&remote_dir));
    assert_eq!(
        list_files(&store_root(&w).join("src")).len(),
        1,
        "one source in the store"
    );

    // And a fresh store given the local file first computes the same key.
    let w2 = Work::new();
    w2.add("local.mp4", &cfr30());
    let m2 = w2.write_manifest(&one_clip("local.mp4"));
    let mut c = w2.command();
    c.arg("extract").arg(&m2).arg("--json");
    let fresh = run(c);
    fresh.assert_ok();
    let fresh_dir = PathBuf::from(fresh.clip("v")["dir"].as_str().unwrap());
    assert_eq!(source_hash_of(&fresh_dir), source_hash_of(&remote_dir));
}

#[test]
fn private_addresses_and_plain_http_are_refused_without_the_allowance() {
    let server = Server::start(vec![("/a.mp4", serve_video(), video())]);
    let w = Work::new();
    w.add("local.mp4", &cfr30());
    let port = server.port;
    let cases = [
        ("http-loopback", server.url("/a.mp4")),
        ("https-ip", format!("https://127.0.0.1:{port}/a.mp4")),
        ("https-localhost", format!("https://localhost:{port}/a.mp4")),
        ("https-v6", format!("https://[::1]:{port}/a.mp4")),
        ("https-mapped", format!("https://[::ffff:127.0.0.1]:{port}/a.mp4")),
        ("https-decimal", format!("https://2130706433:{port}/a.mp4")),
        ("ftp", format!("ftp://127.0.0.1:{port}/a.mp4")),
    ];
    let mut clips: Vec<Value> = cases.iter().map(|(id, u)| clip(id, u, 0.0, 0.5, 0.0, false)).collect();
    clips.push(clip("local", "local.mp4", 0.0, 0.5, 0.0, false));
    let run = w.extract(&manifest(json!(30), clips), &[]);
    for (id, u) in &cases {
        assert_error(&run, id, "source_rejected", &[u.as_str()]);
        assert_eq!(run.error(id).unwrap()["retryable"], json!(false));
    }
    let msg = |id: &str| run.error(id).unwrap()["message"].as_str().unwrap().to_string();
    assert!(msg("http-loopback").contains("http://"), "{}", msg("http-loopback"));
    assert!(msg("https-ip").contains("loopback"), "{}", msg("https-ip"));
    assert!(
        msg("https-localhost").contains("resolves to") && msg("https-localhost").contains("loopback"),
        "localhost is refused by what it resolves to: {}",
        msg("https-localhost")
    );
    assert!(run.error("local").is_none(), "the local clip still succeeds\n{run}");
    assert_eq!(run.clip("local")["frames"], json!(15));
    assert!(
        server.requests().is_empty(),
        "nothing may reach the server: {:?}",
        server.requests()
    );
    assert_no_torn_download(&w, "after refusals");

    // The same http:// URL with the allowance works.
    let ok = w.extract(&one_clip(&server.url("/a.mp4")), &[ALLOW]);
    ok.assert_ok();
}

#[test]
fn a_stalled_download_fails_after_the_stall_timeout() {
    let server = Server::start(vec![("/stall.mp4", Mode::Stall { after: 4096 }, video())]);
    let w = Work::new();
    let started = Instant::now();
    let run = w.extract(
        &one_clip(&server.url("/stall.mp4")),
        &[ALLOW, "--download-stall-timeout", "1"],
    );
    let elapsed = started.elapsed();
    assert_error(
        &run,
        "v",
        "download_failed",
        &[&server.url("/stall.mp4"), "stalled: no data for 1 s"],
    );
    assert_eq!(run.error("v").unwrap()["retryable"], json!(true));
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(8),
        "should fail about 1 s after the stall, took {elapsed:?}\n{run}"
    );
    assert_no_torn_download(&w, "after a stall");

    // --download-timeout alone also bounds silence (stall limit = min(30 s, timeout)).
    let started = Instant::now();
    let run = w.extract(
        &one_clip(&server.url("/stall.mp4")),
        &[ALLOW, "--download-timeout", "2"],
    );
    let elapsed = started.elapsed();
    assert_error(&run, "v", "download_failed", &[&server.url("/stall.mp4")]);
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(9),
        "took {elapsed:?}\n{run}"
    );
    assert_no_torn_download(&w, "after a second stall");
}

#[test]
fn a_slow_download_hits_the_time_limit() {
    // 1 KB every 100 ms: never silent for long, but ~17 s for the whole file.
    let mode = Mode::Trickle {
        chunk: 1024,
        every: Duration::from_millis(100),
    };
    let server = Server::start(vec![("/slow.mp4", mode, video())]);
    let w = Work::new();
    let started = Instant::now();
    let run = w.extract(&one_clip(&server.url("/slow.mp4")), &[ALLOW, "--download-timeout", "2"]);
    let elapsed = started.elapsed();
    assert_error(
        &run,
        "v",
        "download_failed",
        &[&server.url("/slow.mp4"), "timed out after 2 s"],
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(8),
        "should fail about 2 s in, took {elapsed:?}\n{run}"
    );
    assert_no_torn_download(&w, "after a timeout");
}

#[test]
fn oversized_bodies_hit_the_size_limit() {
    let big = Arc::new(vec![7u8; 3 << 20]);
    let server = Server::start(vec![
        (
            "/big.mp4",
            Mode::Serve {
                ranges: true,
                length: true,
            },
            big.clone(),
        ),
        (
            "/big-nolength.mp4",
            Mode::Serve {
                ranges: false,
                length: false,
            },
            big,
        ),
    ]);
    let w = Work::new();
    let m = manifest(
        json!(30),
        vec![
            clip("announced", &server.url("/big.mp4"), 0.0, 0.5, 0.0, false),
            clip("streamed", &server.url("/big-nolength.mp4"), 0.0, 0.5, 0.0, false),
        ],
    );
    let run = w.extract(&m, &[ALLOW, "--download-max", "1M"]);
    for (id, path) in [("announced", "/big.mp4"), ("streamed", "/big-nolength.mp4")] {
        assert_error(
            &run,
            id,
            "source_rejected",
            &[&server.url(path), "larger than the 1 MB limit"],
        );
    }
    // An announced length is refused before the body is read.
    assert!(
        run.breakdown("downloadBytes") <= (1 << 20) + (512 << 10),
        "at most about the limit was read\n{run}"
    );
    assert!(partials(&w).is_empty(), "a refused body leaves no partial download");
    assert_no_torn_download(&w, "after oversized bodies");
}

#[test]
fn an_interrupted_download_resumes_with_a_range_request() {
    let body = video();
    let cut = 50_000;
    let server = Server::start(vec![(
        "/drop.mp4",
        Mode::Drop {
            after: cut,
            times: 1,
            ranges: true,
        },
        body.clone(),
    )]);
    let w = Work::new();
    let run = w.extract(&one_clip(&server.url("/drop.mp4")), &[ALLOW]);
    run.assert_ok();
    let reqs = server.requests_for("/drop.mp4");
    assert_eq!(reqs.len(), 2, "the dropped connection is resumed once: {reqs:?}");
    assert_eq!(reqs[0].range, None);
    assert_eq!(
        reqs[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str()),
        "{reqs:?}"
    );
    assert_eq!(reqs[1].if_range.as_deref(), Some(etag_of(&body).as_str()), "{reqs:?}");
    assert_eq!(
        run.breakdown("downloadBytes"),
        body.len() as u64,
        "no byte fetched twice\n{run}"
    );
    assert_eq!(frame_bytes(&w.out().join("v")), local_frames(0.0, 1.0));
    assert_verify_clean(&w, "after a resumed download");
}

#[test]
fn a_download_interrupted_in_one_run_resumes_in_the_next() {
    let body = video();
    let cut = 40_000;
    // Every attempt of the first run is cut (3 attempts, each resuming the last).
    let server = Server::start(vec![(
        "/flaky.mp4",
        Mode::Drop {
            after: cut,
            times: 3,
            ranges: true,
        },
        body.clone(),
    )]);
    let w = Work::new();
    let m = one_clip(&server.url("/flaky.mp4"));
    let first = w.extract(&m, &[ALLOW]);
    assert_error(
        &first,
        "v",
        "download_failed",
        &[&server.url("/flaky.mp4"), "truncated"],
    );
    let reqs = server.requests_for("/flaky.mp4");
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[2].range.as_deref(), Some(format!("bytes={}-", 2 * cut).as_str()));
    assert_eq!(partials(&w).len(), 1, "the partial download is kept for resuming");
    assert_eq!(std::fs::metadata(&partials(&w)[0]).unwrap().len(), 3 * cut as u64);
    assert_no_torn_download(&w, "after an interrupted download");

    let second = w.extract(&m, &[ALLOW]);
    second.assert_ok();
    let reqs = server.requests_for("/flaky.mp4");
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    assert_eq!(reqs[3].range.as_deref(), Some(format!("bytes={}-", 3 * cut).as_str()));
    assert_eq!(
        second.breakdown("downloadBytes"),
        (body.len() - 3 * cut) as u64,
        "{second}"
    );
    assert!(partials(&w).is_empty());
    assert_eq!(frame_bytes(&w.out().join("v")), local_frames(0.0, 1.0));
    assert_verify_clean(&w, "after resuming");
}

#[test]
fn a_server_that_ignores_the_range_restarts_the_download_from_zero() {
    // The first response is cut; the retry asks for the rest but gets the whole body (200):
    // the partial bytes are dropped, not mixed in.
    let body = video();
    let cut = 30_000;
    let mode = Mode::Drop {
        after: cut,
        times: 1,
        ranges: false,
    };
    let server = Server::start(vec![("/x.mp4", mode, body.clone())]);
    let w = Work::new();
    let run = w.extract(&one_clip(&server.url("/x.mp4")), &[ALLOW]);
    run.assert_ok();
    let reqs = server.requests_for("/x.mp4");
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range.as_deref(), Some(format!("bytes={cut}-").as_str()));
    assert_eq!(
        run.breakdown("downloadBytes"),
        (cut + body.len()) as u64,
        "restarted from zero\n{run}"
    );
    assert_eq!(frame_bytes(&w.out().join("v")), local_frames(0.0, 1.0));
    assert_verify_clean(&w, "after a restart");
}

#[test]
fn missing_and_failing_servers() {
    let server = Server::start(vec![
        ("/gone.mp4", Mode::Status(410), video()),
        ("/error.mp4", Mode::Status(503), video()),
        ("/forbidden.mp4", Mode::Status(403), video()),
    ]);
    let w = Work::new();
    let m = manifest(
        json!(30),
        vec![
            clip("missing", &server.url("/nothing-here.mp4"), 0.0, 0.5, 0.0, false),
            clip("gone", &server.url("/gone.mp4"), 0.0, 0.5, 0.0, false),
            clip("error", &server.url("/error.mp4"), 0.0, 0.5, 0.0, false),
            clip("forbidden", &server.url("/forbidden.mp4"), 0.0, 0.5, 0.0, false),
        ],
    );
    let run = w.extract(&m, &[ALLOW]);
    assert_error(&run, "missing", "source_missing", &["/nothing-here.mp4", "404"]);
    assert_error(&run, "gone", "source_missing", &["/gone.mp4", "410"]);
    assert_error(&run, "error", "download_failed", &["/error.mp4", "503"]);
    assert_eq!(run.error("error").unwrap()["retryable"], json!(true));
    assert_error(&run, "forbidden", "source_rejected", &["/forbidden.mp4", "403"]);
    assert_no_torn_download(&w, "after HTTP errors");

    // A server that is not there at all.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let run = w.extract(&one_clip(&format!("http://127.0.0.1:{port}/a.mp4")), &[ALLOW]);
    assert_error(&run, "v", "download_failed", &[&format!("127.0.0.1:{port}")]);
    assert_no_torn_download(&w, "after a refused connection");
}

#[test]
fn redirects_are_followed_and_loops_fail_cleanly() {
    let server = Server::start(vec![
        ("/video.mp4", serve_video(), video()),
        ("/r1", Mode::Redirect("/r2".into()), video()),
        ("/r2", Mode::Redirect("r3".into()), video()),
        ("/r3", Mode::Redirect("/video.mp4".into()), video()),
        ("/loop-a", Mode::Redirect("/loop-b".into()), video()),
        ("/loop-b", Mode::Redirect("/loop-a".into()), video()),
        ("/h0", Mode::Redirect("/h1".into()), video()),
        ("/h1", Mode::Redirect("/h2".into()), video()),
        ("/h2", Mode::Redirect("/h3".into()), video()),
        ("/h3", Mode::Redirect("/h4".into()), video()),
        ("/h4", Mode::Redirect("/h5".into()), video()),
        ("/h5", Mode::Redirect("/h6".into()), video()),
        ("/h6", Mode::Redirect("/video.mp4".into()), video()),
        ("/to-ftp", Mode::Redirect("ftp://127.0.0.1/video.mp4".into()), video()),
        ("/to-file", Mode::Redirect("file:///etc/passwd".into()), video()),
    ]);
    let w = Work::new();
    let m = manifest(
        json!(30),
        vec![
            clip("chain", &server.url("/r1"), 0.0, 1.0, 0.0, false),
            clip("loop", &server.url("/loop-a"), 0.0, 1.0, 0.0, false),
            clip("long", &server.url("/h0"), 0.0, 1.0, 0.0, false),
        ],
    );
    let run = w.extract(&m, &[ALLOW]);
    assert!(run.error("chain").is_none(), "a 3-hop redirect chain works\n{run}");
    assert_eq!(frame_bytes(&w.out().join("chain")), local_frames(0.0, 1.0));
    assert_error(&run, "loop", "source_rejected", &["/loop-a", "redirect loop"]);
    assert_error(&run, "long", "source_rejected", &["/h0", "more than 5 redirects"]);
    assert!(
        server.requests_for("/h6").is_empty(),
        "the 6th redirect is not followed"
    );
    assert_eq!(server.requests_for("/h5").len(), 1);
    assert_no_torn_download_except_ok(&w);

    // Every hop is checked like the first: another scheme is refused even with the allowance.
    let m = manifest(
        json!(30),
        vec![
            clip("ftp", &server.url("/to-ftp"), 0.0, 1.0, 0.0, false),
            clip("file", &server.url("/to-file"), 0.0, 1.0, 0.0, false),
        ],
    );
    let run = w.extract(&m, &[ALLOW]);
    assert_error(&run, "ftp", "source_rejected", &["/to-ftp", "ftp"]);
    assert_error(&run, "file", "source_rejected", &["/to-file", "file"]);
    assert_no_torn_download_except_ok(&w);
}

/// After a run where some remote clips worked: verify passes and only finished downloads are
/// in src/.
fn assert_no_torn_download_except_ok(w: &Work) {
    assert_verify_clean(w, "after redirects");
    for p in walk(&store_root(w).join("src")) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("remote.") {
            assert_eq!(std::fs::read(&p).unwrap(), *video(), "only whole downloads in src/");
        }
    }
}

#[test]
fn uncached_runs_download_into_a_temporary_folder_removed_afterwards() {
    let server = Server::start(vec![("/u.mp4", serve_video(), video())]);
    let w = Work::new();
    let run = w.extract(&one_clip(&server.url("/u.mp4")), &[ALLOW, "--cache-dir", "off"]);
    run.assert_ok();
    assert_eq!(run.breakdown("downloads"), 1);
    assert_eq!(frame_bytes(&w.out().join("v")), local_frames(0.0, 1.0));
    let leftovers: Vec<PathBuf> = list_files(&w.out())
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary download folder left behind: {leftovers:?}"
    );
    assert!(!w.cache().exists(), "no store was created");
}

#[test]
fn two_processes_download_one_url_once() {
    // ~1 s per download, so the second process starts while the first is downloading.
    let mode = Mode::Trickle {
        chunk: 8192,
        every: Duration::from_millis(40),
    };
    let server = Server::start(vec![("/shared.mp4", mode, video())]);
    let w = Work::new();
    let m = w.write_manifest(&one_clip(&server.url("/shared.mp4")));
    let spawn = |out: &str| {
        let mut c = w.command();
        c.arg("extract")
            .arg(&m)
            .arg("--out")
            .arg(w.path().join(out))
            .arg("--json")
            .arg(ALLOW);
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let started = Instant::now();
        let mut child = c.spawn().unwrap();
        let pipes = drain(&mut child);
        (child, pipes, started)
    };
    let a = spawn("out-a");
    let b = spawn("out-b");
    let mut runs = Vec::new();
    for (mut child, (o, e), started) in [a, b] {
        let status = wait_or_kill(&mut child, started, "framex");
        runs.push(finish(status, o, e, started.elapsed()));
    }
    for r in &runs {
        r.assert_ok();
    }
    assert_eq!(server.requests_for("/shared.mp4").len(), 1, "downloaded once");
    let downloads: Vec<u64> = runs.iter().map(|r| r.breakdown("downloads")).collect();
    assert_eq!(downloads.iter().sum::<u64>(), 1, "{downloads:?}");
    assert_eq!(
        frame_bytes(&w.path().join("out-a/v")),
        frame_bytes(&w.path().join("out-b/v"))
    );
    assert_verify_clean(&w, "after two processes");
}

#[test]
fn sigint_stops_a_download_promptly() {
    let server = Server::start(vec![("/stall.mp4", Mode::Stall { after: 4096 }, video())]);
    let w = Work::new();
    let m = w.write_manifest(&one_clip(&server.url("/stall.mp4")));
    let mut c = w.command();
    c.arg("extract")
        .arg(&m)
        .arg("--out")
        .arg(w.out())
        .arg("--json")
        .arg(ALLOW)
        .arg("--download-stall-timeout")
        .arg("30");
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let mut child = c.spawn().unwrap();
    let (o, e) = drain(&mut child);
    // Wait until the download is under way.
    let t = Instant::now();
    while server.requests().is_empty() && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let interrupted = Instant::now();
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = wait_or_kill(&mut child, started, "framex");
    let took = interrupted.elapsed();
    let run = finish(status, o, e, started.elapsed());
    assert!(took < Duration::from_secs(3), "exit {took:?} after SIGINT\n{run}");
    assert_error(&run, "v", "cancelled", &[]);
    assert_no_torn_download(&w, "after a cancelled download");
}

#[test]
fn a_render_decided_without_an_unreachable_source_says_so() {
    // The HDR decision needs every source's colour. A remote source that could not be fetched
    // for a reason worth retrying (503) might be HDR, which would change how the local SDR clip
    // must be rendered: the result warns. A source that will never be produced (404) does not.
    let server = Server::start(vec![("/busy.mp4", Mode::Status(503), video())]);
    let with_remote = |id: &str, path: &str| {
        let w = Work::new();
        w.add("local.mp4", &cfr30());
        w.extract(
            &manifest(
                json!(30),
                vec![
                    clip("local", "local.mp4", 0.0, 0.5, 0.0, false),
                    clip(id, &server.url(path), 0.0, 0.5, 0.0, false),
                ],
            ),
            &[ALLOW],
        )
    };
    let run = with_remote("busy", "/busy.mp4");
    assert_error(&run, "busy", "download_failed", &["503"]);
    assert_eq!(run.clip("local")["transform"], Value::Null, "{run}");
    let warnings = run.result()["warnings"].to_string();
    assert!(
        warnings.contains("decided without clip(s) busy"),
        "a warning names the clip\n{run}"
    );

    let run = with_remote("gone", "/not-there.mp4");
    assert_error(&run, "gone", "source_missing", &["404"]);
    assert!(
        !run.result()["warnings"].to_string().contains("decided without"),
        "{run}"
    );
}
