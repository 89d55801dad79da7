//! The remote store tier (issue 13) against a real S3-compatible server on 127.0.0.1: moto's
//! server, started per test by `scripts/s3-test-server.py` (`.ci/run` installs moto). Hosts are
//! workspaces with their own local stores sharing one bucket. Faults come from the server being
//! killed, from a TCP proxy in front of it (503 SlowDown storms, cut connections, throttling) and
//! from objects planted or damaged in the bucket with boto3.
//!
//! The oracle for frames is framex's own run without a remote tier, in a fresh store (whose
//! frames the other suites check against the ffmpeg CLI): every run here, whatever the remote
//! tier did, must produce exactly those files.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{json, Value};

// ------------------------------------------------------------------------------------------------
// The server, the proxy, the hosts
// ------------------------------------------------------------------------------------------------

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/s3-test-server.py");

/// The Python with moto: `FRAMEX_TEST_PYTHON` (scripts/test.sh sets it to its venv), else `python3`.
fn python() -> Command {
    Command::new(std::env::var_os("FRAMEX_TEST_PYTHON").unwrap_or_else(|| "python3".into()))
}

/// A moto S3 server on 127.0.0.1, killed when dropped.
struct S3 {
    child: Child,
    stdin: ChildStdin,
    replies: BufReader<std::process::ChildStdout>,
    endpoint: String,
    key: String,
    secret: String,
}

impl S3 {
    fn start(auth: bool) -> S3 {
        let mut c = python();
        c.arg(SCRIPT)
            .args(auth.then_some("--auth"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {SCRIPT}: {e} (Python with moto[server] is needed: scripts/test.sh installs it, or set FRAMEX_TEST_PYTHON)"));
        let stdin = child.stdin.take().unwrap();
        let mut replies = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("the S3 test server did not start (is `pip install \"moto[server]\"` done?): {line:?}")
        });
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        S3 {
            endpoint: s("endpoint"),
            key: s("accessKeyId"),
            secret: s("secretAccessKey"),
            child,
            stdin,
            replies,
        }
    }

    fn bucket(&mut self, name: &str) {
        writeln!(self.stdin, "bucket {name}").unwrap();
        let mut line = String::new();
        self.replies.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok", "creating bucket {name}");
    }

    fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Points `c` at this server (or at `endpoint`, a proxy in front of it), isolated from any
    /// AWS configuration of the machine.
    fn env(&self, c: &mut Command, endpoint: &str) {
        for v in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "FRAMEX_REMOTE_STORE",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent");
    }

    /// Runs a Python snippet with `s3`, a boto3 client of this server, in scope.
    fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='{}', \
             aws_secret_access_key='{}', region_name='us-east-1')\n",
            self.endpoint, self.key, self.secret
        );
        let out = python().arg("-c").arg(format!("{prelude}{code}")).output().unwrap();
        assert!(out.status.success(), "python: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key in `bucket` under `prefix`.
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let code = format!(
            "p = s3.get_paginator('list_objects_v2')\n\
             for page in p.paginate(Bucket='{bucket}', Prefix='{prefix}'):\n    \
             for o in page.get('Contents', []):\n        print(o['Key'])\n"
        );
        self.python(&code).lines().map(str::to_string).collect()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy in front of the server that injects faults. Modes: forward; answer every new
/// request with `503 SlowDown`; cut every connection once `cut_after` bytes went upstream or
/// downstream; forward slowly.
#[derive(Clone)]
struct Proxy {
    port: u16,
    mode: Arc<AtomicU8>,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
    cut_after_up: Arc<AtomicU64>,
    cut_after_down: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

const FORWARD: u8 = 0;
const SLOWDOWN: u8 = 1;
const THROTTLE: u8 = 2;
const REFUSE: u8 = 3;

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = Proxy {
            port: l.local_addr().unwrap().port(),
            mode: Arc::new(AtomicU8::new(FORWARD)),
            up: Arc::default(),
            down: Arc::default(),
            cut_after_up: Arc::new(AtomicU64::new(u64::MAX)),
            cut_after_down: Arc::new(AtomicU64::new(u64::MAX)),
            conns: Arc::default(),
        };
        let me = p.clone();
        std::thread::spawn(move || {
            for client in l.incoming().flatten() {
                let me = me.clone();
                std::thread::spawn(move || me.serve(client, upstream));
            }
        });
        p
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn serve(&self, mut client: TcpStream, upstream: u16) {
        match self.mode.load(Ordering::SeqCst) {
            REFUSE => {
                let _ = client.shutdown(Shutdown::Both);
            }
            SLOWDOWN => {
                // Read the request head, answer 503 SlowDown, close.
                let mut buf = [0u8; 65536];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                            <Message>Please reduce your request rate.</Message></Error>";
                let _ = write!(
                    client,
                    "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = client.shutdown(Shutdown::Both);
            }
            _ => {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                self.conns
                    .lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let me = self.clone();
                let t = std::thread::spawn(move || me.pump(c2, s2, true));
                self.pump(server, client, false);
                let _ = t.join();
            }
        }
    }

    fn pump(&self, mut from: TcpStream, mut to: TcpStream, upward: bool) {
        let mut buf = [0u8; 16384];
        let (count, limit) = if upward {
            (&self.up, &self.cut_after_up)
        } else {
            (&self.down, &self.cut_after_down)
        };
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if self.mode.load(Ordering::SeqCst) == THROTTLE {
                std::thread::sleep(Duration::from_millis(15));
            }
            let total = count.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
            if total > limit.load(Ordering::SeqCst) {
                // The server "dies": every connection is cut, new ones refused.
                self.set(REFUSE);
                for c in self.conns.lock().unwrap().iter() {
                    let _ = c.shutdown(Shutdown::Both);
                }
                break;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    }
}

/// One host: a workspace (its own local store and output folder) holding the test's sources.
fn host(sources: &[(&str, &Path)]) -> Work {
    let w = Work::new();
    for (name, p) in sources {
        w.add(name, p);
    }
    w
}

/// `framex extract` on `w` with the remote tier `url` reached at `endpoint`.
fn extract_remote(w: &Work, s3: &S3, endpoint: &str, manifest: &Value, url: &str, extra: &[&str]) -> Run {
    let comp = w.write_manifest(manifest);
    let mut c = w.command();
    s3.env(&mut c, endpoint);
    c.arg("extract")
        .arg(&comp)
        .arg("--out")
        .arg(w.out())
        .arg("--json")
        .arg("--remote-store")
        .arg(url)
        .args(extra);
    run(c)
}

/// `framex cache remote <args>` against the server itself.
fn cache_remote(s3: &S3, url: &str, args: &[&str]) -> Run {
    let w = Work::new();
    let mut c = w.command();
    s3.env(&mut c, &s3.endpoint);
    c.args(["cache", "remote"]).args(args).args(["--remote-store", url]);
    run(c)
}

/// The files a run without any remote tier, in a fresh store, produces: name → bytes.
fn reference(sources: &[(&str, &Path)], manifest: &Value) -> Vec<(String, Vec<u8>)> {
    let w = host(sources);
    let r = w.extract(manifest, &[]);
    assert_eq!(r.code(), Some(0), "{r}");
    out_files(&w)
}

fn out_files(w: &Work) -> Vec<(String, Vec<u8>)> {
    walk(&w.out())
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.strip_prefix(w.out()).unwrap().display().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn assert_same_frames(w: &Work, want: &[(String, Vec<u8>)], what: &str) {
    let got = out_files(w);
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(want), "{what}: the same files");
    for ((n, a), (_, b)) in got.iter().zip(want) {
        assert!(a == b, "{what}: {n} differs from the run without a remote tier");
    }
}

fn counter(r: &Run, name: &str) -> u64 {
    r.result()["breakdown"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("breakdown has no {name}: {r}"))
}

fn warnings(r: &Run) -> String {
    r.result()["warnings"].to_string()
}

fn clip_json(id: &str, src: &str, start: f64, end: f64, media_start: f64) -> Value {
    json!({ "id": id, "src": src, "start": start, "end": end, "mediaStart": media_start })
}

/// Two clips of one 5 s source and one of a second source.
fn fixture() -> (Vec<(&'static str, PathBuf)>, Value) {
    let sources = vec![("a.mp4", cfr30()), ("b.mp4", cfr24())];
    let manifest = json!({ "fps": 30, "videos": [
        clip_json("one", "a.mp4", 0.0, 3.0, 0.0),
        clip_json("two", "a.mp4", 3.0, 4.5, 2.0),
        clip_json("three", "b.mp4", 0.0, 2.0, 0.5),
    ]});
    (sources, manifest)
}

fn refs<'a>(v: &'a [(&'static str, PathBuf)]) -> Vec<(&'static str, &'a Path)> {
    v.iter().map(|(n, p)| (*n, p.as_path())).collect()
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

/// Host A extracts; host B, with an empty local store and the same bucket, decodes nothing and
/// gets byte-identical files from the remote tier; the bucket then verifies clean and a third
/// host fed only by a trim of the same source takes its frames from the segments.
#[test]
fn a_second_host_decodes_nothing() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let want = reference(&refs(&sources), &manifest);
    let url = "s3://frames/fleet";

    let a = host(&refs(&sources));
    let ra = extract_remote(&a, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(ra.code(), Some(0), "{ra}");
    assert_same_frames(&a, &want, "host A");
    assert!(counter(&ra, "framesDecoded") > 0);
    assert_eq!(
        counter(&ra, "remoteFramesUploaded"),
        counter(&ra, "framesEncoded"),
        "{ra}"
    );
    assert_eq!(counter(&ra, "remotePending"), 0, "{ra}");
    assert_eq!(warnings(&ra), "[]");

    let b = host(&refs(&sources));
    let rb = extract_remote(&b, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(rb.code(), Some(0), "{rb}");
    assert_same_frames(&b, &want, "host B");
    assert_eq!(counter(&rb, "framesDecoded"), 0, "host B decodes nothing: {rb}");
    assert_eq!(counter(&rb, "framesEncoded"), 0, "{rb}");
    assert_eq!(counter(&rb, "remoteClipHits"), 3, "{rb}");
    assert_eq!(
        counter(&rb, "remoteFramesDownloaded"),
        counter(&ra, "framesEncoded"),
        "{rb}"
    );
    assert_eq!(counter(&rb, "remoteObjectsUploaded"), 0, "nothing new to upload: {rb}");
    assert_eq!(warnings(&rb), "[]");
    // Packed: one segment per source here, not one object per frame.
    let keys = s3.keys("frames", "fleet/");
    let segments = keys.iter().filter(|k| k.ends_with(".fxs")).count();
    assert_eq!(segments, 2, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("fleet/framex-r1/src/")), "{keys:?}");
    // Host B's requests: metadata, clip records, listings and segment reads, a handful.
    assert!(counter(&rb, "remoteRequests") <= 12, "{rb}");

    let v = cache_remote(&s3, url, &["verify"]);
    assert_eq!(v.code(), Some(0), "{v}");
    assert_eq!(v.result()["damaged"], json!([]));
    assert_eq!(v.result()["frames"].as_u64(), Some(counter(&ra, "framesEncoded")));

    // A new trim on a third host: no clip record fits, but its frames are in the segments.
    let trim = json!({ "fps": 30, "videos": [clip_json("t", "a.mp4", 0.0, 1.0, 1.0)] });
    let want_trim = reference(&refs(&sources), &trim);
    let c = host(&refs(&sources));
    let rc = extract_remote(&c, &s3, &s3.endpoint, &trim, url, &[]);
    assert_eq!(rc.code(), Some(0), "{rc}");
    assert_same_frames(&c, &want_trim, "host C");
    assert_eq!(counter(&rc, "framesDecoded"), 0, "{rc}");
    assert_eq!(counter(&rc, "remoteClipHits"), 0, "{rc}");
    assert_eq!(counter(&rc, "remoteFramesDownloaded"), 30, "{rc}");

    let st = cache_remote(&s3, url, &["stats"]);
    assert_eq!(st.code(), Some(0), "{st}");
    assert_eq!(st.result()["sources"], 2);
    assert_eq!(st.result()["segments"], 2);
    assert_eq!(st.result()["metadataRecords"], 2);
    // Host C's trim is a new clip: its record went up too.
    assert_eq!(st.result()["clipRecords"], 4);
}

/// Four hosts with empty local stores extract overlapping compositions at the same time: all
/// correct, the bucket verifies clean, and a fifth host then decodes nothing.
#[test]
fn four_hosts_at_once_share_one_bucket() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let sources = [("a.mp4", cfr30()), ("b.mp4", cfr24())];
    let comps: Vec<Value> = (0..4)
        .map(|i| {
            let s = i as f64 * 0.5;
            json!({ "fps": 30, "videos": [
                clip_json("x", "a.mp4", 0.0, 2.5, s),
                clip_json("y", "b.mp4", 0.0, 1.5, s / 2.0),
            ]})
        })
        .collect();
    let url = "s3://frames/four";
    let hosts: Vec<Work> = (0..4).map(|_| host(&refs(&sources))).collect();
    let children: Vec<_> = hosts
        .iter()
        .zip(&comps)
        .map(|(w, m)| {
            let comp = w.write_manifest(m);
            let mut c = w.command();
            s3.env(&mut c, &s3.endpoint);
            c.arg("extract").arg(&comp).arg("--out").arg(w.out()).arg("--json");
            c.args(["--remote-store", url, "--quiet"]);
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = c.spawn().unwrap();
            let pipes = drain(&mut child);
            (child, pipes, Instant::now())
        })
        .collect();
    for ((mut child, (o, e), t0), (w, m)) in children.into_iter().zip(hosts.iter().zip(&comps)) {
        let status = wait_or_kill(&mut child, t0, "a concurrent host");
        let r = finish(status, o, e, t0.elapsed());
        assert_eq!(r.code(), Some(0), "{r}");
        assert_eq!(warnings(&r), "[]", "{r}");
        assert_same_frames(w, &reference(&refs(&sources), m), "a concurrent host");
    }
    let v = cache_remote(&s3, url, &["verify"]);
    assert_eq!(v.code(), Some(0), "{v}");
    assert_eq!(v.result()["damaged"], json!([]));
    // Every object is whole and content-addressed: a frame two hosts decoded at once may sit in
    // two segments, never in a torn or conflicting one.
    let union = json!({ "fps": 30, "videos": [
        clip_json("x", "a.mp4", 0.0, 4.0, 0.0),
        clip_json("y", "b.mp4", 0.0, 2.25, 0.0),
    ]});
    let five = host(&refs(&sources));
    let r5 = extract_remote(&five, &s3, &s3.endpoint, &union, url, &[]);
    assert_eq!(r5.code(), Some(0), "{r5}");
    assert_same_frames(&five, &reference(&refs(&sources), &union), "the fifth host");
    assert_eq!(counter(&r5, "framesDecoded"), 0, "{r5}");
}

/// The server dies while a host downloads from it, and while another uploads to it: both
/// renders succeed with the right frames and say what happened; nothing torn is left in the
/// bucket, and a later host gets what is there and decodes the rest.
#[test]
fn the_server_stopping_mid_run_and_mid_flush_never_fails_a_render() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let want = reference(&refs(&sources), &manifest);
    let url = "s3://frames/cut";

    // Mid-flush: the connection is cut after ~300 KB of the upload went up.
    let proxy = Proxy::start(s3.port());
    proxy.cut_after_up.store(300_000, Ordering::SeqCst);
    let a = host(&refs(&sources));
    let ra = extract_remote(&a, &s3, &proxy.endpoint(), &manifest, url, &[]);
    assert_eq!(ra.code(), Some(0), "{ra}");
    assert_same_frames(&a, &want, "host A");
    assert!(counter(&ra, "remotePending") > 0, "{ra}");
    assert!(counter(&ra, "remoteFallbacks") > 0, "{ra}");
    assert!(warnings(&ra).contains("carried on with the local store"), "{ra}");
    let v = cache_remote(&s3, url, &["verify"]);
    assert_eq!(v.code(), Some(0), "no torn object: {v}");

    // Mid-run: a host reading from the bucket loses the server after ~100 KB came down.
    let b_proxy = Proxy::start(s3.port());
    let b = host(&refs(&sources));
    // Fill the bucket completely first (host B2, direct).
    let b2 = host(&refs(&sources));
    let r2 = extract_remote(&b2, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(r2.code(), Some(0), "{r2}");
    b_proxy.cut_after_down.store(100_000, Ordering::SeqCst);
    let rb = extract_remote(&b, &s3, &b_proxy.endpoint(), &manifest, url, &[]);
    assert_eq!(rb.code(), Some(0), "{rb}");
    assert_same_frames(&b, &want, "host B");
    assert!(counter(&rb, "framesDecoded") > 0, "the rest is decoded: {rb}");
    assert!(warnings(&rb).contains("failed"), "{rb}");

    // The server itself goes away: a host starting now runs as if there were no tier.
    s3.kill();
    let c = host(&refs(&sources));
    let t0 = Instant::now();
    let rc = extract_remote(&c, &fake_creds(&s3), &s3.endpoint, &manifest, url, &[]);
    assert_eq!(rc.code(), Some(0), "{rc}");
    assert_same_frames(&c, &want, "host C");
    assert!(
        warnings(&rc).contains("Connection refused") || warnings(&rc).contains("connect"),
        "{rc}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(60),
        "a dead server costs seconds, not minutes"
    );
}

/// A stand-in `S3` with `s3`'s endpoint and credentials (its process already gone).
fn fake_creds(s3: &S3) -> S3 {
    let mut child = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    S3 {
        stdin: child.stdin.take().unwrap(),
        replies: BufReader::new(child.stdout.take().unwrap()),
        child,
        endpoint: s3.endpoint.clone(),
        key: s3.key.clone(),
        secret: s3.secret.clone(),
    }
}

/// A 503 SlowDown storm, wrong credentials (signatures checked) and a bucket that does not
/// exist: the render succeeds, decodes, and the warning names the cause.
#[test]
fn throttling_bad_credentials_and_a_missing_bucket_are_warnings() {
    let (sources, manifest) = fixture();
    let want = reference(&refs(&sources), &manifest);

    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let proxy = Proxy::start(s3.port());
    proxy.set(SLOWDOWN);
    let a = host(&refs(&sources));
    let t0 = Instant::now();
    let ra = extract_remote(&a, &s3, &proxy.endpoint(), &manifest, "s3://frames/storm", &[]);
    assert_eq!(ra.code(), Some(0), "{ra}");
    assert_same_frames(&a, &want, "503 storm");
    assert!(
        warnings(&ra).contains("503") || warnings(&ra).contains("SlowDown"),
        "{ra}"
    );
    assert!(counter(&ra, "remoteFallbacks") >= 1, "{ra}");
    assert!(t0.elapsed() < Duration::from_secs(60), "retries are bounded");

    let b = host(&refs(&sources));
    let rb = extract_remote(&b, &s3, &s3.endpoint, &manifest, "s3://no-such-bucket/x", &[]);
    assert_eq!(rb.code(), Some(0), "{rb}");
    assert_same_frames(&b, &want, "missing bucket");
    assert!(
        warnings(&rb).contains("NoSuchBucket") || warnings(&rb).contains("404"),
        "{rb}"
    );

    let mut guarded = S3::start(true);
    guarded.bucket("frames");
    let c = host(&refs(&sources));
    let mut wrong = fake_creds(&guarded);
    wrong.secret = "not-the-secret".into();
    let rc = extract_remote(&c, &wrong, &guarded.endpoint, &manifest, "s3://frames/x", &[]);
    assert_eq!(rc.code(), Some(0), "{rc}");
    assert_same_frames(&c, &want, "wrong credentials");
    assert!(warnings(&rc).contains("403"), "{rc}");
    // Both sources' metadata is asked for at once; after that refusal the tier is off.
    assert!(
        counter(&rc, "remoteRequests") <= 2,
        "the tier is off after its first refusal: {rc}"
    );
}

/// A damaged segment and foreign objects planted in the bucket: the render takes the good
/// frames, refuses the bad (decoding them), warns; `verify` reports the damage (exit 1) and
/// `--repair` removes it.
#[test]
fn a_damaged_object_never_enters_the_local_store() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let want = reference(&refs(&sources), &manifest);
    let url = "s3://frames/dmg";
    let a = host(&refs(&sources));
    let ra = extract_remote(&a, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(ra.code(), Some(0), "{ra}");

    let keys = s3.keys("frames", "dmg/");
    let seg = keys.iter().find(|k| k.ends_with(".fxs")).unwrap().clone();
    // Flip one byte near the end of the segment (inside its last frame), same key.
    s3.python(&format!(
        "b = bytearray(s3.get_object(Bucket='frames', Key='{seg}')['Body'].read())\n\
         b[-100] ^= 0xff\n\
         s3.put_object(Bucket='frames', Key='{seg}', Body=bytes(b))\n"
    ));
    let dir = seg.rsplit_once('/').unwrap().0;
    let id = "0".repeat(32);
    s3.python(&format!(
        "s3.put_object(Bucket='frames', Key='{dir}/0_1_1_{id}.fxs', Body=b'not a segment')\n\
         s3.put_object(Bucket='frames', Key='{dir}/README', Body=b'hello')\n"
    ));

    let b = host(&refs(&sources));
    let rb = extract_remote(&b, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(rb.code(), Some(0), "{rb}");
    assert_same_frames(&b, &want, "host B");
    assert!(counter(&rb, "remoteDamaged") >= 2, "{rb}");
    assert!(counter(&rb, "framesDecoded") > 0, "the refused frame is decoded: {rb}");
    assert!(warnings(&rb).contains("does not match its hash"), "{rb}");

    let v = cache_remote(&s3, url, &["verify"]);
    assert_eq!(v.code(), Some(1), "damage is exit 1: {v}");
    let damaged: Vec<String> = v.result()["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(damaged.len(), 2, "{v}");
    assert!(
        damaged.iter().any(|k| seg.ends_with(k.as_str())),
        "{damaged:?} vs {seg}"
    );
    assert_eq!(v.result()["foreignObjects"], 1, "README is not framex's: {v}");
    let fixed = cache_remote(&s3, url, &["verify", "--repair"]);
    assert_eq!(fixed.code(), Some(0), "{fixed}");
    assert_eq!(fixed.result()["removed"], 2);
    let again = cache_remote(&s3, url, &["verify"]);
    assert_eq!(again.code(), Some(0), "{again}");
    assert!(
        s3.keys("frames", "dmg/").iter().any(|k| k.ends_with("/README")),
        "foreign objects stay"
    );
}

/// A host killed while uploading leaves no torn object: `verify` is clean and the next host
/// gets correct frames. A flush limit shorter than the upload ends the run on time and says
/// how much stayed local.
#[test]
fn a_killed_upload_leaves_nothing_torn_and_the_flush_limit_holds() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let want = reference(&refs(&sources), &manifest);
    let url = "s3://frames/kill";

    let proxy = Proxy::start(s3.port());
    proxy.set(THROTTLE);
    let a = host(&refs(&sources));
    let comp = a.write_manifest(&manifest);
    let mut c = a.command();
    s3.env(&mut c, &proxy.endpoint());
    c.arg("extract")
        .arg(&comp)
        .arg("--out")
        .arg(a.out())
        .args(["--quiet", "--remote-store", url]);
    let mut child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    // Kill it once the upload is under way (some segment bytes went up).
    while proxy.up.load(Ordering::SeqCst) < 200_000 {
        assert!(t0.elapsed() < Duration::from_secs(120), "the upload never started");
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let v = cache_remote(&s3, url, &["verify"]);
    assert_eq!(v.code(), Some(0), "{v}");
    assert_eq!(v.result()["damaged"], json!([]), "{v}");
    let b = host(&refs(&sources));
    let rb = extract_remote(&b, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(rb.code(), Some(0), "{rb}");
    assert_same_frames(&b, &want, "after a killed upload");

    // A flush limit far below what the throttled upload needs.
    let d = host(&refs(&sources));
    let rd = extract_remote(
        &d,
        &s3,
        &proxy.endpoint(),
        &manifest,
        "s3://frames/limit",
        &["--remote-flush-limit", "0.3"],
    );
    assert_eq!(rd.code(), Some(0), "{rd}");
    assert_same_frames(&d, &want, "short flush limit");
    assert!(counter(&rd, "remotePending") > 0, "{rd}");
    assert!(warnings(&rd).contains("not uploaded within the flush limit"), "{rd}");
    let flush_ms = rd.result()["breakdown"]["remoteFlushMs"].as_f64().unwrap();
    assert!(flush_ms < 10_000.0, "{rd}");
    let v = cache_remote(&s3, "s3://frames/limit", &["verify"]);
    assert_eq!(v.code(), Some(0), "abandoned uploads are not half-visible: {v}");
}

/// `cache remote gc --older-than` deletes what is older and keeps what is not; `stats` counts.
#[test]
fn remote_gc_deletes_by_age() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let url = "s3://frames/gc";
    let a = host(&refs(&sources));
    assert_eq!(
        extract_remote(&a, &s3, &s3.endpoint, &manifest, url, &[]).code(),
        Some(0)
    );
    let before = cache_remote(&s3, url, &["stats"]);
    let n = before.result()["segments"].as_u64().unwrap()
        + before.result()["clipRecords"].as_u64().unwrap()
        + before.result()["metadataRecords"].as_u64().unwrap();
    assert!(n > 0);
    let kept = cache_remote(&s3, url, &["gc", "--older-than", "1d"]);
    assert_eq!(kept.code(), Some(0), "{kept}");
    assert_eq!(kept.result()["deleted"], 0);
    std::thread::sleep(Duration::from_millis(1100));
    let gone = cache_remote(&s3, url, &["gc", "--older-than", "0s"]);
    assert_eq!(gone.code(), Some(0), "{gone}");
    assert_eq!(gone.result()["deleted"].as_u64(), Some(n), "{gone}");
    let after = cache_remote(&s3, url, &["stats"]);
    assert_eq!(after.result()["totalBytes"], 0, "{after}");
    let bad = cache_remote(&s3, url, &["gc", "--older-than", "soon"]);
    assert_eq!(bad.code(), Some(2), "{bad}");
}

/// Bad settings are refused before any work or turned into warnings: a URL that is not
/// `s3://`, a tier without a local store.
#[test]
fn remote_store_settings_are_checked() {
    let s3 = S3::start(false);
    let (sources, manifest) = fixture();
    let a = host(&refs(&sources));
    let r = extract_remote(&a, &s3, &s3.endpoint, &manifest, "https://example.com/x", &[]);
    assert_eq!(r.code(), Some(0), "{r}");
    assert!(warnings(&r).contains("only s3:// URLs are supported"), "{r}");
    let r = extract_remote(
        &a,
        &s3,
        &s3.endpoint,
        &manifest,
        "s3://frames/x",
        &["--cache-dir", "off"],
    );
    assert_eq!(r.code(), Some(0), "{r}");
    assert!(warnings(&r).contains("works through the local store"), "{r}");
    let none = {
        let w = Work::new();
        let mut c = w.command();
        c.env_remove("FRAMEX_REMOTE_STORE").args(["cache", "remote", "stats"]);
        run(c)
    };
    assert_eq!(none.code(), Some(2), "{none}");
}

/// Fleet slices: two hosts extract the two halves of the timeline; a third host's full run
/// decodes nothing (its frames come by range from the segments), and a fourth host repeating
/// a slice is answered by that slice's own record.
#[test]
fn slices_on_two_hosts_feed_a_full_run_on_a_third() {
    let mut s3 = S3::start(false);
    s3.bucket("frames");
    let (sources, manifest) = fixture();
    let url = "s3://frames/slices";
    let halves = [("0..60", 60u64), ("60..135", 75)];
    for (range, n) in halves {
        let h = host(&refs(&sources));
        let r = extract_remote(&h, &s3, &s3.endpoint, &manifest, url, &["--frames", range]);
        assert_eq!(r.code(), Some(0), "{r}");
        assert_eq!(r.result()["totalFrames"].as_u64().unwrap() > 0, n > 0, "{r}");
        assert_eq!(counter(&r, "remotePending"), 0, "{r}");
    }
    let full = host(&refs(&sources));
    let rf = extract_remote(&full, &s3, &s3.endpoint, &manifest, url, &[]);
    assert_eq!(rf.code(), Some(0), "{rf}");
    assert_same_frames(&full, &reference(&refs(&sources), &manifest), "the full run");
    assert_eq!(counter(&rf, "framesDecoded"), 0, "{rf}");
    let again = host(&refs(&sources));
    let ra = extract_remote(&again, &s3, &s3.endpoint, &manifest, url, &["--frames", "0..60"]);
    assert_eq!(ra.code(), Some(0), "{ra}");
    assert_eq!(counter(&ra, "framesDecoded"), 0, "{ra}");
    assert!(counter(&ra, "remoteClipHits") >= 1, "the slice's own record: {ra}");
}
