//! What `pairscope fetch` writes and `pairscope ingest --fetched` reads back: the contract
//! between the two, in one place.
//!
//! A fetch output directory holds the run's record ([`RECORD`]) and, per finished shard,
//! `NNNNN.parquet` (one row per input row, [`SHARD_COLUMNS`]) and `NNNNN_stats.json`
//! ([`STATS_SUFFIX`], written last: a shard without it is not finished). Taken back into a
//! dataset, a row's measured values fill the canonical columns [`FILLS`] names where the
//! dataset has no value, and every fetched row gets the columns of [`ADDED_COLUMNS`].

use arrow_schema::DataType;

/// The name of a run's record in its output directory.
pub const RECORD: &str = "fetch.json";

/// The suffix of a finished shard's counts (`00000_stats.json`).
pub const STATS_SUFFIX: &str = "_stats.json";

/// The status of a row whose image was fetched, decoded and kept.
pub const OK: &str = "ok";

/// The columns of a shard's parquet file, in order (img2dataset's, and `sha1` and `row_id`).
pub const SHARD_COLUMNS: [&str; 13] = [
    "url",
    "caption",
    "key",
    "status",
    "error_message",
    "width",
    "height",
    "original_width",
    "original_height",
    "md5",
    "sha1",
    "sha256",
    "row_id",
];

/// A column a fetch adds to the rows it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddedColumn {
    /// Its name in the dataset.
    pub name: &'static str,
    /// The shard column it is read from.
    pub shard_column: &'static str,
    /// What it holds.
    pub doc: &'static str,
    /// Only rows fetched `ok` have it (the status is every fetched row's).
    pub measured: bool,
}

/// The added column every fetched row has: its status.
pub const STATUS_COLUMN: &str = "fetched_status";

/// The columns a fetch adds, in order. Their types are [`added_type`]'s.
pub const ADDED_COLUMNS: [AddedColumn; 6] = [
    AddedColumn {
        name: "fetched_status",
        shard_column: "status",
        doc: "the status of the row's latest fetch that measured it (`ok`), else of its latest fetch",
        measured: false,
    },
    AddedColumn {
        name: "fetched_width",
        shard_column: "original_width",
        doc: "the width of the image as fetched, in pixels",
        measured: true,
    },
    AddedColumn {
        name: "fetched_height",
        shard_column: "original_height",
        doc: "the height of the image as fetched, in pixels",
        measured: true,
    },
    AddedColumn {
        name: "fetched_md5",
        shard_column: "md5",
        doc: "MD5 of the image bytes as served, hex",
        measured: true,
    },
    AddedColumn {
        name: "fetched_sha1",
        shard_column: "sha1",
        doc: "SHA-1 of the image bytes as served, hex",
        measured: true,
    },
    AddedColumn {
        name: "fetched_sha256",
        shard_column: "sha256",
        doc: "SHA-256 of the image bytes as served, hex",
        measured: true,
    },
];

/// The Arrow type of an added column: the canonical `width`/`height` type for sizes, text
/// otherwise.
pub fn added_type(column: &AddedColumn) -> DataType {
    match column.shard_column {
        "original_width" | "original_height" => DataType::Int32,
        _ => DataType::Utf8,
    }
}

/// The added columns holding digests of the image bytes (what image-hash removal lists match).
pub const DIGEST_COLUMNS: [&str; 3] = ["fetched_md5", "fetched_sha1", "fetched_sha256"];

/// Canonical column ← the added column whose measured value fills it where the dataset has none
/// (published values are kept).
pub const FILLS: [(&str, &str); 3] =
    [("width", "fetched_width"), ("height", "fetched_height"), ("image_sha256", "fetched_sha256")];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::canonical;

    #[test]
    fn fills_name_canonical_columns_of_the_added_columns_type() {
        for (target, from) in FILLS {
            let added = ADDED_COLUMNS.iter().find(|c| c.name == from).unwrap();
            assert!(added.measured, "{from}");
            assert_eq!(canonical(target).unwrap().kind.data_type(), added_type(added), "{target}");
        }
        assert!(ADDED_COLUMNS.iter().any(|c| c.name == STATUS_COLUMN && !c.measured));
        for digest in DIGEST_COLUMNS {
            assert!(ADDED_COLUMNS.iter().any(|c| c.name == digest && c.measured), "{digest}");
        }
        for added in ADDED_COLUMNS {
            assert!(SHARD_COLUMNS.contains(&added.shard_column), "{}", added.name);
            assert!(canonical(added.name).is_none(), "{} must not shadow a canonical column", added.name);
        }
    }
}
