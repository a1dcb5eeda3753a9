pub mod collect;
pub mod demo;
pub mod info;
pub mod ingest;
pub mod sources;
pub mod synth;
