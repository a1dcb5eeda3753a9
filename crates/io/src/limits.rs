//! The operating system's per-process limits that a dataset of thousands of blocks can reach,
//! read so a command can say which limit to raise, and to what, before it fails.
//!
//! Only memory mappings are counted here: a search maps its blocks' index files (tantivy), and
//! the kernel allows a process `vm.max_map_count` mappings (65,530 by default); past it `mmap`
//! fails with an "out of memory" that names nothing. Open files are not: pairscope's readers
//! hold no file open per block (a mapping outlives its descriptor; parquet files are opened
//! per read), so `ulimit -n` stays out of reach whatever the block count.

use std::path::Path;

/// Mappings left free for what a process maps besides its dataset's index files (its own
/// code and libraries, thread stacks, the allocator's arenas, vector files opened later).
pub const MAPPINGS_HEADROOM: u64 = 4_096;

/// The process's mapping limit and the mappings it holds now; `None` where the system does not
/// say (not Linux).
pub fn mappings() -> Option<Mappings> {
    let limit = read_number(Path::new("/proc/sys/vm/max_map_count"))?;
    let held = std::fs::read_to_string("/proc/self/maps").ok()?.lines().count() as u64;
    Some(Mappings { limit, held })
}

/// What [`mappings`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mappings {
    /// `vm.max_map_count`.
    pub limit: u64,
    /// Mappings the process held when read.
    pub held: u64,
}

impl Mappings {
    /// `None` if `more` mappings fit beside those held with [`MAPPINGS_HEADROOM`] to spare;
    /// else the limit that would: what `vm.max_map_count` should be raised to.
    pub fn raise_for(&self, more: u64) -> Option<u64> {
        let needed = self.held.saturating_add(more).saturating_add(MAPPINGS_HEADROOM);
        (needed > self.limit).then_some(needed)
    }
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_raised_only_past_what_is_held_and_the_headroom() {
        let mappings = Mappings { limit: 65_530, held: 100 };
        assert_eq!(mappings.raise_for(65_530 - 100 - MAPPINGS_HEADROOM), None);
        assert_eq!(mappings.raise_for(65_530 - 100 - MAPPINGS_HEADROOM + 1), Some(65_531));
        assert_eq!(mappings.raise_for(u64::MAX), Some(u64::MAX), "no overflow");
    }

    #[test]
    fn this_process_holds_some_mappings_under_its_limit() {
        let Some(mappings) = mappings() else {
            eprintln!("skipped: no /proc here");
            return;
        };
        assert!(mappings.held > 0 && mappings.held < mappings.limit, "{mappings:?}");
    }
}
