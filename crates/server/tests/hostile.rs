//! The server as an attacker meets it: a real loopback server (`pairscope_server::serve`)
//! spoken to over raw sockets, with the requests a hostile client makes: answers it never
//! reads, repeated and missing headers, HTTP/2 with prior knowledge, queries past every
//! limit, and cursors taken from one search to another or made up.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pairscope_ingest::{IngestOptions, ingest};
use pairscope_model::NoProgress;
use pairscope_server::ServerConfig;
use serde_json::Value;

mod common;

/// Marks a query's text: no answer may repeat it.
const MARKER: &str = "zqxmarker";

/// 30,000 synthetic rows, in one dataset shared by the tests (read-only): an export of them
/// all is megabytes, more than a stalled connection's buffers hold.
fn dataset() -> &'static Path {
    static DATASET: OnceLock<PathBuf> = OnceLock::new();
    DATASET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let inputs = common::synth(&dir, 30_000);
        let ds = dir.join("ds");
        ingest(&ds, &inputs, &IngestOptions::default(), &NoProgress).unwrap();
        ds
    })
}

/// Starts a server on a free loopback port (it runs until the tests end) and returns its address.
#[expect(clippy::result_large_err, reason = "the server thread returns its error once, and nobody reads it")]
fn start(configure: impl FnOnce(&mut ServerConfig)) -> SocketAddr {
    let mut config = ServerConfig::new(dataset().to_path_buf());
    config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    configure(&mut config);
    let (ready, url) = std::sync::mpsc::channel();
    std::thread::spawn(move || pairscope_server::serve(config, |url| ready.send(url.to_string()).unwrap()));
    let url = url.recv_timeout(Duration::from_secs(120)).expect("the server starts");
    url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap()
}

struct Answer {
    status: u16,
    /// Everything after the status line, headers and body, as text.
    rest: String,
}

impl Answer {
    fn body(&self) -> &str {
        self.rest.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.body()).unwrap_or_else(|e| panic!("{e}: {}", self.rest))
    }
}

/// Sends `request` as is and reads the answer to its end (the request must ask to close).
fn exchange(addr: SocketAddr, request: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (line, rest) = text.split_once("\r\n").unwrap_or_else(|| panic!("no status line: {text:?}"));
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    Answer { status, rest: rest.to_string() }
}

fn request(addr: SocketAddr, path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
}

fn get(addr: SocketAddr, path: &str) -> Answer {
    exchange(addr, &request(addr, path))
}

#[test]
fn clients_that_never_read_their_exports_hold_no_permit_and_are_dropped() {
    let limit = Duration::from_secs(2);
    let addr = start(|config| {
        config.max_concurrent = 2;
        config.timeout = limit;
    });
    // Two exports of every row whose answers are never read: their buffers fill and stay full.
    let stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(request(addr, "/export.jsonl").as_bytes()).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));

    let started = Instant::now();
    let search = get(addr, "/search.json?q=new");
    let took = started.elapsed();
    assert_eq!(search.status, 200, "{}", search.rest);
    assert!(search.json()["total"].as_u64().unwrap() > 0);
    assert!(took < limit, "a search waited {took:?} for the stalled exports");

    // Past the time limit of their stall, each is answered and closed: refused (the exports'
    // own bound) or cut short (no last chunk), never kept open or completed.
    std::thread::sleep(3 * limit);
    for mut stream in stalled {
        stream.set_read_timeout(Some(10 * limit)).unwrap();
        let mut bytes = Vec::new();
        match stream.read_to_end(&mut bytes) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("a stalled reader's connection stayed open: {e}"),
        }
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(16)]).into_owned();
        let refused = head.starts_with("HTTP/1.1 503");
        let cut = head.starts_with("HTTP/1.1 200") && !bytes.ends_with(b"\r\n0\r\n\r\n");
        assert!(refused || cut, "{head}… ({} bytes)", bytes.len());
    }
}

#[test]
fn refused_queries_say_why_without_repeating_the_query() {
    let addr = start(|_| {});
    let nested = format!("{}{MARKER}{}", "(".repeat(40), ")".repeat(40));
    let many = vec![MARKER; 300].join("+");
    let long = MARKER.repeat(1000);
    let cases = [
        (format!("q={nested}"), "nests deeper than 32 levels"),
        (format!("q={many}"), "more than 256 words"),
        (format!("q={long}"), "longer than 8192 bytes"),
        ("q=%ff".to_string(), "no letters or digits"),
        ("q=%22%22".to_string(), "no letters or digits"),
        ("url=***".to_string(), "nothing to match"),
        (format!("q=new&after={MARKER}"), "not one a pairscope search gave"),
    ];
    for (query, reason) in &cases {
        for path in [format!("/search.json?{query}"), format!("/?{query}")] {
            let answer = get(addr, &path);
            assert_eq!(answer.status, 400, "{path}: {}", answer.rest);
            assert!(answer.body().contains(reason), "{path}: {}", answer.body());
            assert!(!answer.body().contains(MARKER), "{path}: {}", answer.body());
        }
    }
}

/// `cursor` with its `field`th dot-separated part (from 0) replaced by `value`.
fn altered(cursor: &str, field: usize, value: &str) -> String {
    let mut parts: Vec<&str> = cursor.split('.').collect();
    parts[field] = value;
    parts.join(".")
}

#[test]
fn cursors_work_for_their_own_search_only_and_forged_ones_are_refused() {
    let addr = start(|_| {});
    let first = get(addr, "/search.json?q=new&limit=3").json();
    let next = first["next"].as_str().expect("more than three rows say new").to_string();
    let second = get(addr, &format!("/search.json?q=new&limit=3&after={next}"));
    assert_eq!(second.status, 200, "{}", second.rest);
    assert_ne!(second.json()["hits"][0]["row_id"], first["hits"][0]["row_id"]);

    let elsewhere = get(addr, &format!("/search.json?q=beautiful&limit=3&after={next}"));
    assert_eq!(elsewhere.status, 400, "a cursor of q=new was taken for q=beautiful: {}", elsewhere.rest);
    assert!(elsewhere.body().contains("another search"), "{}", elsewhere.body());

    let nan = altered(&next, 3, &format!("{:016x}", f64::NAN.to_bits()));
    let negative = altered(&next, 4, "-1");
    for forged in [nan, negative] {
        let answer = get(addr, &format!("/search.json?q=new&limit=3&after={forged}"));
        assert_eq!(answer.status, 400, "{forged}: {}", answer.rest);
        assert!(answer.body().contains("not one a pairscope search gave"), "{}", answer.body());
    }
}

#[test]
fn a_request_with_two_host_headers_is_refused() {
    let addr = start(|_| {});
    let one = get(addr, "/search.json?limit=1");
    assert_eq!(one.status, 200, "{}", one.rest);
    let two = exchange(
        addr,
        &format!(
            "GET /search.json?limit=1 HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        ),
    );
    assert_eq!(two.status, 400, "{}", two.rest);
}

/// A frame of HTTP/2: its 9-byte header and `payload`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend(payload);
    frame
}

/// One GET over HTTP/2 with prior knowledge (h2c), its frames written by hand: whether the
/// status is 200, and the body.
fn h2_get(addr: SocketAddr, path: &str, authority: &str) -> (bool, String) {
    const DATA: u8 = 0;
    const HEADERS: u8 = 1;
    const RST_STREAM: u8 = 3;
    const SETTINGS: u8 = 4;
    const GOAWAY: u8 = 7;
    const END_STREAM: u8 = 0x1;
    const END_HEADERS: u8 = 0x4;
    // HPACK: `:method GET` and `:scheme http` are static entries 2 and 6; `:path` (4) and
    // `:authority` (1) are literals with an indexed name, not indexed, without Huffman coding.
    let mut block = vec![0x82, 0x86];
    for (name, value) in [(4u8, path), (1, authority)] {
        assert!(value.len() < 127);
        block.extend([name, value.len() as u8]);
        block.extend(value.as_bytes());
    }
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(SETTINGS, 0, 0, &[]));
    out.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    stream.write_all(&out).unwrap();
    let (mut ok, mut body) = (None, Vec::new());
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).unwrap();
        let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).unwrap();
        match (kind, id) {
            // `:status 200` is static entry 8, which the server sends indexed.
            (HEADERS, 1) => ok = Some(payload.first() == Some(&0x88)),
            (DATA, 1) => body.extend(payload),
            (RST_STREAM, 1) | (GOAWAY, _) => panic!("the server ended the exchange (frame type {kind})"),
            _ => {}
        }
        if id == 1 && flags & END_STREAM != 0 {
            break;
        }
    }
    (ok.expect("response headers"), String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn http2_requests_are_answered_for_the_servers_authority_only() {
    let addr = start(|_| {});
    let (ok, body) = h2_get(addr, "/search.json?q=new&limit=1", &addr.to_string());
    assert!(ok, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["total"].as_u64().unwrap() > 0, "{body}");
    let (ok, body) = h2_get(addr, "/search.json?q=new&limit=1", "evil.example");
    assert!(!ok, "answered for another host: {body}");
}
