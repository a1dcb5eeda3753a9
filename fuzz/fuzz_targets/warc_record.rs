//! One decompressed WARC response record (WARC header, HTTP response, HTML), gzipped here so
//! that the fuzzer mutates what the HTML extraction reads.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pairscope_collect::Format;

fuzz_target!(|data: &[u8]| common::check(&common::gzip(data), Format::Warc));
