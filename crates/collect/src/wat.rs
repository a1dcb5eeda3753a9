//! Streaming reader over a Common Crawl WAT file (`.wat.gz`).
//!
//! Common Crawl gzips every WARC record as its own member, so the reader decodes one member at a
//! time and reports where it started in the compressed file: that offset is how a pair is traced
//! back to its record (and where a range request would fetch it again).
//!
//! Bad input is skipped and counted by [`SkipReason`], never a panic and never an error: a
//! corrupt member is passed over by scanning for the next gzip magic `1f 8b 08`. Only a failure
//! of the underlying reader ends the read with [`CollectError`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;
use serde::{Deserialize, Deserializer};

use crate::error::CollectError;

const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];
const BUFFER_BYTES: usize = 256 * 1024;
/// How many skipped records keep their offset and detail in [`ReadStats::examples`].
const MAX_SKIP_EXAMPLES: usize = 32;

/// Size limits; a record over a limit is skipped whole (and the rest of its member still read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest WARC payload (Content-Length) read. Real WAT records are kilobytes; a larger one
    /// is damage or abuse, and would otherwise be buffered in memory whole.
    pub max_payload_bytes: u64,
    /// Largest WARC header block.
    pub max_header_bytes: u64,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits { max_payload_bytes: 64 << 20, max_header_bytes: 64 << 10 }
    }
}

/// Why a record (or a stretch of bytes) was not yielded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The gzip member does not decode (bad header, bad deflate data, CRC or length mismatch).
    CorruptGzip,
    /// The input ends inside a gzip member.
    Truncated,
    /// Bytes between members that are not a gzip member; skipped up to the next magic.
    Garbage,
    /// No `WARC/` version line, or no usable `Content-Length`.
    BadWarcHeader,
    /// `Content-Length` (or the decompressed member) exceeds [`ReadLimits`].
    PayloadTooLarge,
    /// The member holds fewer payload bytes than `Content-Length` announces.
    PayloadTruncated,
    /// A metadata record whose payload is not JSON.
    BadJson,
    /// Valid JSON without the WAT layout (no `Envelope`, a field of the wrong type).
    UnexpectedJsonShape,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::CorruptGzip => "corrupt-gzip",
            SkipReason::Truncated => "truncated",
            SkipReason::Garbage => "garbage",
            SkipReason::BadWarcHeader => "bad-warc-header",
            SkipReason::PayloadTooLarge => "payload-too-large",
            SkipReason::PayloadTruncated => "payload-truncated",
            SkipReason::BadJson => "bad-json",
            SkipReason::UnexpectedJsonShape => "unexpected-json-shape",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skip with its context, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Compressed offset of the member (or of the garbage run).
    pub offset: u64,
    pub reason: SkipReason,
    pub detail: String,
}

/// What a read saw: records yielded, skips by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records yielded, whatever their type.
    pub records: u64,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Bytes passed over while looking for the next gzip member.
    pub garbage_bytes: u64,
    /// The first skips, with offsets, so a report can point at them.
    pub examples: Vec<Skip>,
}

impl ReadStats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    fn skip(&mut self, offset: u64, reason: SkipReason, detail: String) {
        *self.skipped.entry(reason).or_default() += 1;
        if self.examples.len() < MAX_SKIP_EXAMPLES {
            self.examples.push(Skip { offset, reason, detail });
        }
    }
}

/// One WARC record of a WAT file.
#[derive(Debug, Clone, PartialEq)]
pub struct WatRecord {
    /// Offset in the compressed file of the gzip member holding this record.
    pub offset: u64,
    /// `WARC-Type` as written (`warcinfo`, `metadata`, ...).
    pub warc_type: String,
    /// `WARC-Target-URI` of the WAT record header.
    pub target_uri: Option<String>,
    /// `WARC-Date` of the WAT record header (when the WAT was made, not the crawl).
    pub date: Option<String>,
    /// The JSON payload of a metadata record; `None` for other record types.
    pub metadata: Option<WatMetadata>,
}

impl WatRecord {
    pub fn is_metadata(&self) -> bool {
        self.warc_type.eq_ignore_ascii_case("metadata")
    }
}

/// The fields of a WAT JSON payload that pairscope reads; everything else is ignored unparsed.
/// Strings of an unexpected JSON type read as absent rather than failing the record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WatMetadata {
    #[serde(rename = "Envelope")]
    pub envelope: Envelope,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Envelope {
    #[serde(rename = "WARC-Header-Metadata", default)]
    pub warc_header: WarcHeaderMetadata,
    #[serde(rename = "Payload-Metadata", default)]
    pub payload: PayloadMetadata,
}

/// The header of the WARC record the WAT entry describes (the crawl's response record).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WarcHeaderMetadata {
    #[serde(rename = "WARC-Target-URI", default, deserialize_with = "lenient_string")]
    pub target_uri: Option<String>,
    #[serde(rename = "WARC-Date", default, deserialize_with = "lenient_string")]
    pub date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PayloadMetadata {
    #[serde(rename = "HTTP-Response-Metadata", default)]
    pub http_response: Option<HttpResponseMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpResponseMetadata {
    /// Response headers as (name, value); a header given as a JSON array yields one entry per value.
    #[serde(rename = "Headers", default, deserialize_with = "headers")]
    pub headers: Vec<(String, String)>,
    #[serde(rename = "HTML-Metadata", default)]
    pub html: Option<HtmlMetadata>,
}

impl HttpResponseMetadata {
    /// Values of header `name`, matched case-insensitively.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HtmlMetadata {
    #[serde(rename = "Head", default)]
    pub head: Head,
    #[serde(rename = "Links", default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Head {
    /// `<base href>`, as written.
    #[serde(rename = "Base", default, deserialize_with = "lenient_string")]
    pub base: Option<String>,
    #[serde(rename = "Metas", default)]
    pub metas: Vec<Meta>,
}

/// A `<meta>` element; only `name` and `content` matter here (`property`, `http-equiv` ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Meta {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub content: Option<String>,
}

/// A link of the page: `path` says where it came from (`IMG@/src` is an `<img src>`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Link {
    #[serde(default, deserialize_with = "lenient_string")]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub alt: Option<String>,
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let serde_json::Value::Object(map) = serde_json::Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        match value {
            serde_json::Value::String(v) => out.push((name, v)),
            serde_json::Value::Array(values) => {
                out.extend(values.into_iter().filter_map(|v| v.as_str().map(|v| (name.clone(), v.to_owned()))))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A buffered source that counts consumed bytes, can look a few bytes ahead across refills
/// (for the magic scan), and remembers whether the *underlying* reader failed, so decode
/// errors (skips) are told apart from I/O errors (fatal).
struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    consumed: u64,
    inner_error: Option<io::Error>,
}

impl<R: Read> Source<R> {
    fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            consumed: 0,
            inner_error: None,
        }
    }

    /// The buffered bytes, at least `n` of them unless the input ends first.
    fn fill_to(&mut self, n: usize) -> io::Result<&[u8]> {
        debug_assert!(n <= self.buf.len());
        while self.end - self.start < n {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => break,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.inner_error = Some(io::Error::new(e.kind(), e.to_string()));
                    return Err(e);
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let k = available.len().min(out.len());
        out[..k].copy_from_slice(&available[..k]);
        self.consume(k);
        Ok(k)
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill_to(1)
    }

    fn consume(&mut self, amount: usize) {
        let amount = amount.min(self.end - self.start);
        self.start += amount;
        self.consumed += amount as u64;
    }
}

/// Iterator over the records of a `.wat.gz` stream. Yields `Err` at most once (an I/O failure
/// of the underlying reader), then ends.
pub struct WatReader<R> {
    source: Source<R>,
    limits: ReadLimits,
    stats: ReadStats,
    done: bool,
}

impl<R: Read> WatReader<R> {
    pub fn new(reader: R) -> Self {
        Self::with_limits(reader, ReadLimits::default())
    }

    pub fn with_limits(reader: R, limits: ReadLimits) -> Self {
        WatReader { source: Source::new(reader), limits, stats: ReadStats::default(), done: false }
    }

    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    pub fn into_stats(self) -> ReadStats {
        self.stats
    }

    fn io_error(&mut self, offset: u64, source: io::Error) -> CollectError {
        self.done = true;
        CollectError::Io { offset, source }
    }

    /// Advances to the next gzip magic; false at the end of input.
    fn seek_member(&mut self) -> io::Result<bool> {
        let start = self.source.consumed;
        let found = loop {
            let buf = self.source.fill_to(GZIP_MAGIC.len())?;
            if buf.is_empty() {
                break false;
            }
            if buf.starts_with(&GZIP_MAGIC) {
                break true;
            }
            // Keep a possible magic start that straddles the end of the buffer.
            let skip = buf[1..].iter().position(|&b| b == GZIP_MAGIC[0]).map_or(buf.len(), |p| p + 1);
            self.source.consume(skip);
        };
        let skipped = self.source.consumed - start;
        if skipped > 0 {
            self.stats.garbage_bytes += skipped;
            self.stats.skip(start, SkipReason::Garbage, format!("{skipped} bytes before the next gzip member"));
        }
        Ok(found)
    }
}

impl<R: Read> Iterator for WatReader<R> {
    type Item = Result<WatRecord, CollectError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.seek_member() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => return Some(Err(self.io_error(self.source.consumed, e))),
            }
            let offset = self.source.consumed;
            let cap = self.limits.max_payload_bytes.saturating_add(self.limits.max_header_bytes);
            let mut member = Vec::new();
            let decoded = {
                let mut decoder = GzDecoder::new(&mut self.source);
                match (&mut decoder).take(cap.saturating_add(1)).read_to_end(&mut member) {
                    // Over the cap: drain (and so check) the rest of the member without keeping it.
                    Ok(n) if n as u64 > cap => io::copy(&mut decoder, &mut io::sink()).map(|_| false),
                    Ok(_) => Ok(true),
                    Err(e) => Err(e),
                }
            };
            match decoded {
                Ok(true) => {}
                Ok(false) => {
                    self.stats.skip(offset, SkipReason::PayloadTooLarge, format!("member inflates past {cap} bytes"));
                    continue;
                }
                Err(e) => {
                    if let Some(io_error) = self.source.inner_error.take() {
                        return Some(Err(self.io_error(offset, io_error)));
                    }
                    let at_end = matches!(self.source.fill_to(1), Ok([]));
                    if at_end {
                        self.stats.skip(offset, SkipReason::Truncated, format!("input ends inside a gzip member: {e}"));
                    } else {
                        // The decoder stopped at the damage; the scan for the next magic resumes there.
                        self.stats.skip(offset, SkipReason::CorruptGzip, e.to_string());
                    }
                    continue;
                }
            }
            match parse_record(offset, &member, &self.limits) {
                Ok(record) => {
                    self.stats.records += 1;
                    return Some(Ok(record));
                }
                Err((reason, detail)) => self.stats.skip(offset, reason, detail),
            }
        }
        None
    }
}

/// Parses one decompressed member: a WARC header block, then `Content-Length` payload bytes.
fn parse_record(offset: u64, member: &[u8], limits: &ReadLimits) -> Result<WatRecord, (SkipReason, String)> {
    let bad_header = |detail: &str| (SkipReason::BadWarcHeader, detail.to_owned());
    // Lenient: bare LF line ends are accepted as well as CRLF.
    let (header_len, body_start) = [b"\r\n\r\n".as_slice(), b"\n\n".as_slice()]
        .iter()
        .filter_map(|sep| find(member, sep).map(|at| (at, at + sep.len())))
        .min()
        .ok_or_else(|| bad_header("no end of WARC header"))?;
    if header_len as u64 > limits.max_header_bytes {
        return Err(bad_header("WARC header over the size limit"));
    }
    let header = String::from_utf8_lossy(&member[..header_len]);
    let mut lines = header.lines().map(str::trim).skip_while(|l| l.is_empty());
    if !lines.next().is_some_and(|l| l.starts_with("WARC/")) {
        return Err(bad_header("no WARC/ version line"));
    }
    let mut fields: Vec<(&str, &str)> = Vec::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim(), value.trim()));
        }
    }
    let field = |name: &str| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let length: u64 = field("Content-Length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad_header("missing or invalid Content-Length"))?;
    if length > limits.max_payload_bytes {
        return Err((SkipReason::PayloadTooLarge, format!("Content-Length {length}")));
    }
    let body = &member[body_start..];
    let payload = usize::try_from(length).ok().and_then(|n| body.get(..n)).ok_or_else(|| {
        (SkipReason::PayloadTruncated, format!("Content-Length {length}, {} bytes present", body.len()))
    })?;
    let warc_type = field("WARC-Type").unwrap_or_default().to_owned();
    let mut record = WatRecord {
        offset,
        warc_type,
        target_uri: field("WARC-Target-URI").map(str::to_owned),
        date: field("WARC-Date").map(str::to_owned),
        metadata: None,
    };
    let json_payload = match field("Content-Type") {
        Some(ct) => ct.to_ascii_lowercase().contains("json"),
        None => payload.trim_ascii_start().starts_with(b"{"),
    };
    if record.is_metadata() && json_payload {
        let metadata = serde_json::from_slice::<WatMetadata>(payload).map_err(|e| {
            let reason = if e.is_data() { SkipReason::UnexpectedJsonShape } else { SkipReason::BadJson };
            (reason, format!("record at {offset}: {e}"))
        })?;
        record.metadata = Some(metadata);
    }
    Ok(record)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn warc(kind: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: https://example.org/\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        r.extend_from_slice(payload);
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    const JSON: &[u8] = br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"Headers":{"X-Robots-Tag":["noai","noindex"],"Server":"x"},"HTML-Metadata":{"Head":{"Base":7,"Metas":[{"name":"robots","content":"all"}]},"Links":[{"path":"IMG@/src","url":"/a.jpg","alt":"A cat"}]}}}}}"#;

    fn read_all(bytes: &[u8]) -> (Vec<WatRecord>, ReadStats) {
        let mut reader = WatReader::new(bytes);
        let records = reader.by_ref().map(|r| r.unwrap()).collect();
        (records, reader.into_stats())
    }

    #[test]
    fn reads_members_with_offsets_and_json() {
        let first = gz(&warc("warcinfo", "application/warc-fields", b"software: test"));
        let second = gz(&warc("metadata", "application/json", JSON));
        let input = [first.clone(), second].concat();
        let (records, stats) = read_all(&input);
        assert_eq!(records.len(), 2);
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(records[0].offset, 0);
        assert_eq!(records[1].offset, first.len() as u64);
        assert!(records[0].metadata.is_none());
        let response = records[1].metadata.as_ref().unwrap().envelope.payload.http_response.as_ref().unwrap();
        assert_eq!(response.header_values("x-robots-tag").collect::<Vec<_>>(), ["noai", "noindex"]);
        let html = response.html.as_ref().unwrap();
        assert_eq!(html.head.base, None, "a non-string Base reads as absent");
        assert_eq!(html.links[0].alt.as_deref(), Some("A cat"));
    }

    #[test]
    fn bad_records_are_counted_and_reading_goes_on() {
        let good = gz(&warc("metadata", "application/json", JSON));
        let input = [
            b"junk".to_vec(),
            gz(&warc("metadata", "application/json", b"{not json")),
            gz(&warc("metadata", "application/json", b"[1, 2]")),
            gz(b"HTTP/1.1 200 OK\r\n\r\n"),
            gz(b"WARC/1.0\r\nContent-Length: 99\r\n\r\nshort"),
            gz(b"WARC/1.0\r\nContent-Length: many\r\n\r\n"),
            good.clone(),
            good[..good.len() / 2].to_vec(),
        ]
        .concat();
        let (records, stats) = read_all(&input);
        assert_eq!(records.len(), 1);
        let expected = BTreeMap::from([
            (SkipReason::Garbage, 1),
            (SkipReason::BadJson, 1),
            (SkipReason::UnexpectedJsonShape, 1),
            (SkipReason::BadWarcHeader, 2),
            (SkipReason::PayloadTruncated, 1),
            (SkipReason::Truncated, 1),
        ]);
        assert_eq!(stats.skipped, expected);
        assert_eq!(stats.garbage_bytes, 4);
    }

    #[test]
    fn oversized_records_are_skipped() {
        let limits = ReadLimits { max_payload_bytes: 1000, max_header_bytes: 1000 };
        let big = vec![b'x'; 5000];
        let input =
            [gz(&warc("resource", "text/plain", &big)), gz(&warc("metadata", "application/json", JSON))].concat();
        let mut reader = WatReader::with_limits(input.as_slice(), limits);
        let records: Vec<_> = reader.by_ref().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(reader.stats().skipped, BTreeMap::from([(SkipReason::PayloadTooLarge, 1)]));
    }

    #[test]
    fn io_failure_is_an_error_not_a_skip() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut reader = WatReader::new(Failing);
        assert!(matches!(reader.next(), Some(Err(CollectError::Io { offset: 0, .. }))));
        assert!(reader.next().is_none());
    }
}
