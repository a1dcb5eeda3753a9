//! The gzipped stream as it comes: member boundaries, corrupt or truncated members, garbage.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use pairscope_collect::Format;

fuzz_target!(|data: &[u8]| common::check(data, Format::Auto));
