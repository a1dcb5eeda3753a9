//! For tests only: where the shared sample data is. Every crate's tests look it up here, so
//! the location and the skip notice are stated once.

use std::path::PathBuf;

/// `../shared/data/REL` beside the workspace, or `None` after printing a skip notice when it
/// is absent (tests that need it then skip). The directory comes from `CARGO_MANIFEST_DIR`
/// at run time, not `env!()`: cargo may reuse a test binary built in another clone.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests");
    let path = PathBuf::from(manifest_dir).join("../../../shared/data").join(rel);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: ../shared/data/{rel} is not here");
        None
    }
}
