//! One decompressed WAT record (WARC header and JSON payload), gzipped here so that the fuzzer
//! mutates the text the WAT reader parses rather than deflate bits.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pairscope_collect::Format;

fuzz_target!(|data: &[u8]| common::check(&common::gzip(data), Format::Wat));
