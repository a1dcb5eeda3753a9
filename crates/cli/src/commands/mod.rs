pub mod bench_queries;
pub mod collect;
pub mod demo;
pub mod info;
pub mod ingest;
pub mod search;
pub mod sources;
pub mod synth;
