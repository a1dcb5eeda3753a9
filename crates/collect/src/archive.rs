//! Streaming reader over a gzipped WARC file, Common Crawl's WARC and WAT files alike.
//!
//! Common Crawl gzips every WARC record as its own member, so the reader decodes one member at a
//! time and reports where it started in the compressed file: that offset is how a pair is traced
//! back to its record (and where a range request would fetch it again). The payload is handed
//! over undecoded: [`crate::wat`] and [`crate::html`] read it.
//!
//! Bad input is skipped and counted by [`SkipReason`], never a panic and never an error: a
//! corrupt member is passed over by scanning for the next gzip magic `1f 8b 08`. Only a failure
//! of the underlying reader ends the read with [`CollectError`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// A WAT metadata record whose payload is not JSON.
    BadJson,
    /// Valid JSON without the WAT layout (no `Envelope`, a field of the wrong type).
    UnexpectedJsonShape,
    /// A WARC `response` record whose payload is not an HTTP response.
    BadHttp,
    /// HTML the parser gave up on (over its memory limit).
    BadHtml,
}

impl SkipReason {
    /// The reason's kebab-case name, as in reports and its serde form (`corrupt-gzip`).
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
            SkipReason::BadHttp => "bad-http",
            SkipReason::BadHtml => "bad-html",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One skip with its context, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skip {
    /// Compressed offset of the member (or of the garbage run).
    pub offset: u64,
    /// Why the record or bytes were skipped.
    pub reason: SkipReason,
    /// What exactly was wrong, for a person (the decoder's error, the bad `Content-Length`).
    pub detail: String,
}

/// What a read saw: records yielded, skips by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadStats {
    /// Records yielded, whatever their type.
    pub records: u64,
    /// Bytes of the decompressed members read (the WARC text).
    pub inflated_bytes: u64,
    /// Records (or runs of garbage bytes) skipped, by reason; reasons never seen are absent.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Bytes passed over while looking for the next gzip member.
    pub garbage_bytes: u64,
    /// The first skips, with offsets, so a report can point at them.
    pub examples: Vec<Skip>,
}

impl ReadStats {
    /// Skips of every reason together.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds the counts of `other`, keeping examples up to the cap.
    pub fn absorb(&mut self, other: ReadStats) {
        self.records += other.records;
        self.inflated_bytes += other.inflated_bytes;
        self.garbage_bytes += other.garbage_bytes;
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        let room = MAX_SKIP_EXAMPLES.saturating_sub(self.examples.len());
        self.examples.extend(other.examples.into_iter().take(room));
    }

    pub(crate) fn skip(&mut self, offset: u64, reason: SkipReason, detail: String) {
        *self.skipped.entry(reason).or_default() += 1;
        if self.examples.len() < MAX_SKIP_EXAMPLES {
            self.examples.push(Skip { offset, reason, detail });
        }
    }
}

/// A buffered source that counts consumed bytes, can look a few bytes ahead across refills
/// (for the magic scan), and remembers whether the *underlying* reader failed, so decode
/// errors (skips) are told apart from I/O errors (fatal).
struct Source<R> {
    /// `None` only in the placeholder that stands in while the decoder is reset.
    inner: Option<R>,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    consumed: u64,
    inner_error: Option<io::Error>,
}

impl<R: Read> Source<R> {
    fn new(inner: R) -> Self {
        Source {
            inner: Some(inner),
            buf: vec![0; BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            consumed: 0,
            inner_error: None,
        }
    }

    /// An empty source that allocates nothing, swapped in while the real one moves.
    fn placeholder() -> Self {
        Source { inner: None, buf: Box::default(), start: 0, end: 0, consumed: 0, inner_error: None }
    }

    /// The buffered bytes, at least `n` of them unless the input ends first.
    fn fill_to(&mut self, n: usize) -> io::Result<&[u8]> {
        debug_assert!(n <= self.buf.len());
        let Some(inner) = self.inner.as_mut() else { return Ok(&[]) };
        while self.end - self.start < n {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            match inner.read(&mut self.buf[self.end..]) {
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

/// One WARC record: its header fields the extraction needs, and the raw payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Offset in the compressed file of the gzip member holding this record.
    pub offset: u64,
    /// `WARC-Type` as written (`warcinfo`, `response`, `metadata`, ...).
    pub warc_type: String,
    /// `WARC-Target-URI`: the page the record is about; `None` when the header has none.
    pub target_uri: Option<String>,
    /// `WARC-Date` (for a WAT record: when the WAT was made, not the crawl).
    pub date: Option<String>,
    /// `Content-Type` of the WARC record (`application/json` for WAT metadata,
    /// `application/http; msgtype=response` for a response), not of the HTTP body.
    pub content_type: Option<String>,
    /// Exactly `Content-Length` bytes.
    pub payload: Payload,
}

/// A record's payload: the tail of its decompressed member. The WARC header stays in front of
/// it in the buffer, since cutting it off would copy the whole payload.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    member: Vec<u8>,
    start: usize,
}

impl std::ops::Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.member[self.start..]
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        **self == **other
    }
}

impl From<Vec<u8>> for Payload {
    fn from(member: Vec<u8>) -> Payload {
        Payload { member, start: 0 }
    }
}

impl Record {
    /// Whether `WARC-Type` is `warc_type`, ignoring ASCII case.
    pub fn is_type(&self, warc_type: &str) -> bool {
        self.warc_type.eq_ignore_ascii_case(warc_type)
    }
}

/// Iterator over the records of a gzipped WARC stream. Yields `Err` at most once (an I/O failure
/// of the underlying reader), then ends.
pub struct RecordReader<R> {
    /// One decoder for every member, reset in between (its inflate state and window are
    /// allocated once); it owns the source, reached through [`RecordReader::source`].
    decoder: GzDecoder<Source<R>>,
    limits: ReadLimits,
    stats: ReadStats,
    done: bool,
    last_member_bytes: usize,
}

impl<R: Read> RecordReader<R> {
    /// A reader of the gzipped WARC stream `reader`, with the default [`ReadLimits`].
    pub fn new(reader: R) -> Self {
        Self::with_limits(reader, ReadLimits::default())
    }

    /// A reader of the gzipped WARC stream `reader` that skips records over `limits`.
    pub fn with_limits(reader: R, limits: ReadLimits) -> Self {
        // `GzDecoder::new` parses a header at once: it gets the empty placeholder, and the real
        // source comes in by the reset that readies the decoder for each member.
        let mut decoder = GzDecoder::new(Source::placeholder());
        decoder.reset(Source::new(reader));
        RecordReader { decoder, limits, stats: ReadStats::default(), done: false, last_member_bytes: 0 }
    }

    /// What the read has counted so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// What the read counted, taking the reader: for after the last record.
    pub fn into_stats(self) -> ReadStats {
        self.stats
    }

    fn source(&mut self) -> &mut Source<R> {
        self.decoder.get_mut()
    }

    /// Readies the decoder for a member starting at the source's position.
    fn reset_decoder(&mut self) {
        let source = std::mem::replace(self.source(), Source::placeholder());
        self.decoder.reset(source);
    }

    fn io_error(&mut self, offset: u64, source: io::Error) -> CollectError {
        self.done = true;
        CollectError::Io { offset, source }
    }

    /// Advances to the next gzip magic; false at the end of input.
    fn seek_member(&mut self) -> io::Result<bool> {
        let source = self.decoder.get_mut();
        let start = source.consumed;
        let found = loop {
            let buf = source.fill_to(GZIP_MAGIC.len())?;
            if buf.is_empty() {
                break false;
            }
            if buf.starts_with(&GZIP_MAGIC) {
                break true;
            }
            // Keep a possible magic start that straddles the end of the buffer.
            let skip = buf[1..].iter().position(|&b| b == GZIP_MAGIC[0]).map_or(buf.len(), |p| p + 1);
            source.consume(skip);
        };
        let skipped = source.consumed - start;
        if skipped > 0 {
            self.stats.garbage_bytes += skipped;
            self.stats.skip(start, SkipReason::Garbage, format!("{skipped} bytes before the next gzip member"));
        }
        Ok(found)
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Record, CollectError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.seek_member() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    let offset = self.source().consumed;
                    return Some(Err(self.io_error(offset, e)));
                }
            }
            let offset = self.source().consumed;
            self.reset_decoder();
            let cap = self.limits.max_payload_bytes.saturating_add(self.limits.max_header_bytes);
            // Sized like the last member (records of a file are alike): no regrowth, no copying.
            let mut member = Vec::with_capacity(self.last_member_bytes.min(1 << 20));
            let decoder = &mut self.decoder;
            let decoded = match (&mut *decoder).take(cap.saturating_add(1)).read_to_end(&mut member) {
                // Over the cap: drain (and so check) the rest of the member without keeping it.
                Ok(n) if n as u64 > cap => io::copy(decoder, &mut io::sink()).map(|_| false),
                Ok(_) => Ok(true),
                Err(e) => Err(e),
            };
            match decoded {
                Ok(true) => {}
                Ok(false) => {
                    self.stats.skip(offset, SkipReason::PayloadTooLarge, format!("member inflates past {cap} bytes"));
                    continue;
                }
                Err(e) => {
                    if let Some(io_error) = self.source().inner_error.take() {
                        return Some(Err(self.io_error(offset, io_error)));
                    }
                    let at_end = matches!(self.source().fill_to(1), Ok([]));
                    if at_end {
                        self.stats.skip(offset, SkipReason::Truncated, format!("input ends inside a gzip member: {e}"));
                    } else {
                        // The decoder stopped at the damage; the scan for the next magic resumes there.
                        self.stats.skip(offset, SkipReason::CorruptGzip, e.to_string());
                    }
                    continue;
                }
            }
            self.stats.inflated_bytes += member.len() as u64;
            self.last_member_bytes = member.len().next_power_of_two();
            match parse_record(offset, member, &self.limits) {
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
/// The member's buffer becomes the payload's (nothing is copied).
fn parse_record(offset: u64, mut member: Vec<u8>, limits: &ReadLimits) -> Result<Record, (SkipReason, String)> {
    let bad_header = |detail: &str| (SkipReason::BadWarcHeader, detail.to_owned());
    // Lenient: bare LF line ends are accepted as well as CRLF.
    // Only the first bytes can hold the header: no scan of a large payload for a separator.
    let head = &member[..member.len().min(limits.max_header_bytes as usize + 4)];
    let crlf = memchr::memmem::find(head, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = memchr::memmem::find(&head[..crlf.map_or(head.len(), |(at, _)| at)], b"\n\n").map(|at| (at, at + 2));
    let (header_len, body_start) = lf.or(crlf).ok_or_else(|| bad_header("no end of WARC header"))?;
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
    let present = member.len() - body_start;
    let end = usize::try_from(length)
        .ok()
        .filter(|&n| n <= present)
        .ok_or_else(|| (SkipReason::PayloadTruncated, format!("Content-Length {length}, {present} bytes present")))?;
    let warc_type = field("WARC-Type").unwrap_or_default().to_owned();
    let target_uri = field("WARC-Target-URI").map(str::to_owned);
    let date = field("WARC-Date").map(str::to_owned);
    let content_type = field("Content-Type").map(str::to_owned);
    drop(header);
    member.truncate(body_start + end);
    let payload = Payload { member, start: body_start };
    Ok(Record { offset, warc_type, target_uri, date, content_type, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    pub(crate) fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn warc(kind: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: https://example.org/\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            payload.len()
        )
        .into_bytes();
        r.extend_from_slice(payload);
        r.extend_from_slice(b"\r\n\r\n");
        r
    }

    fn read_all(bytes: &[u8]) -> (Vec<Record>, ReadStats) {
        let mut reader = RecordReader::new(bytes);
        let records = reader.by_ref().map(|r| r.unwrap()).collect();
        (records, reader.into_stats())
    }

    #[test]
    fn reads_members_with_offsets_and_payloads() {
        let first = gz(&warc("warcinfo", "application/warc-fields", b"software: test"));
        let second = gz(&warc("metadata", "application/json", b"{}"));
        let input = [first.clone(), second].concat();
        let (records, stats) = read_all(&input);
        assert_eq!(records.len(), 2);
        assert_eq!(stats.skipped_total(), 0);
        assert_eq!(records[0].offset, 0);
        assert_eq!(records[1].offset, first.len() as u64);
        assert!(records[0].is_type("WARCINFO"));
        assert_eq!(&records[0].payload[..], b"software: test");
        assert_eq!(records[1].content_type.as_deref(), Some("application/json"));
        assert_eq!(records[1].target_uri.as_deref(), Some("https://example.org/"));
    }

    #[test]
    fn bad_records_are_counted_and_reading_goes_on() {
        let good = gz(&warc("metadata", "application/json", b"{}"));
        let input = [
            b"junk".to_vec(),
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
            [gz(&warc("resource", "text/plain", &big)), gz(&warc("metadata", "application/json", b"{}"))].concat();
        let mut reader = RecordReader::with_limits(input.as_slice(), limits);
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
        let mut reader = RecordReader::new(Failing);
        assert!(matches!(reader.next(), Some(Err(CollectError::Io { offset: 0, .. }))));
        assert!(reader.next().is_none());
    }
}
