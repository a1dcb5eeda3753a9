//! The canonical columns of a pair. Every reader maps its source onto these names; every
//! command (filter language, SQL, facets, web UI) refers to rows by them.
//!
//! Columns a source carries that are not mapped here are kept under their own (lower-cased)
//! name beside these; a source column whose name collides with a canonical one without being
//! mapped onto it is kept as `src_<name>` (img2dataset's resized `width` becomes `src_width`).

use arrow_schema::{DataType, Field, Schema};

/// The value type of a canonical column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// The row identity, `Int64` (always ≥ 0).
    RowId,
    /// UTF-8 text, `Utf8`.
    Text,
    /// A whole number, `Int32` (image sizes in pixels, byte lengths).
    Int,
    /// A score, `Float64` (kept at double precision so filters agree with other engines on
    /// the same source values).
    Float,
    /// A flag, `Boolean`.
    Bool,
}

impl ColumnKind {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::RowId => DataType::Int64,
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Int => DataType::Int32,
            ColumnKind::Float => DataType::Float64,
            ColumnKind::Bool => DataType::Boolean,
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnKind::RowId | ColumnKind::Int | ColumnKind::Float)
    }
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalColumn {
    pub name: &'static str,
    pub kind: ColumnKind,
    /// `false` only for the columns every stored row has.
    pub nullable: bool,
    /// Whether ingest derives it (never read from a source).
    pub derived: bool,
    pub doc: &'static str,
}

const fn col(name: &'static str, kind: ColumnKind, doc: &'static str) -> CanonicalColumn {
    CanonicalColumn { name, kind, nullable: true, derived: false, doc }
}

/// The canonical columns, in storage order.
pub const CANONICAL_COLUMNS: &[CanonicalColumn] = &[
    CanonicalColumn {
        name: "row_id",
        kind: ColumnKind::RowId,
        nullable: false,
        derived: true,
        doc: "stable 63-bit identity derived from (source content hash, row index)",
    },
    CanonicalColumn { name: "url", kind: ColumnKind::Text, nullable: false, derived: false, doc: "the image URL" },
    CanonicalColumn {
        name: "caption",
        kind: ColumnKind::Text,
        nullable: false,
        derived: false,
        doc: "the alt text / caption (cut at --max-caption-bytes)",
    },
    CanonicalColumn {
        name: "caption_truncated_from",
        kind: ColumnKind::Int,
        nullable: true,
        derived: true,
        doc: "the caption's original length in bytes when it was cut; null otherwise",
    },
    col("page_url", ColumnKind::Text, "the page the image was found on"),
    col("width", ColumnKind::Int, "the original image's width in pixels"),
    col("height", ColumnKind::Int, "the original image's height in pixels"),
    col("similarity", ColumnKind::Float, "CLIP ViT-B/32 image-text cosine similarity"),
    col("punsafe", ColumnKind::Float, "LAION's CLIP-based probability the image is unsafe"),
    col("pwatermark", ColumnKind::Float, "LAION's predicted probability of a watermark"),
    col("aesthetic", ColumnKind::Float, "LAION aesthetic predictor v2 score (0-10)"),
    col("language", ColumnKind::Text, "caption language (ISO 639 code as the source gives it)"),
    col("license", ColumnKind::Text, "license detected on the page, if any"),
    col("nsfw_label", ColumnKind::Text, "LAION-5B NSFW label: UNLIKELY, UNSURE or NSFW"),
    col("sample_id", ColumnKind::Text, "the source's own id of the pair (SAMPLE_ID, uid, id)"),
    col("image_sha256", ColumnKind::Text, "SHA-256 of the image bytes, hex, where known"),
    col("hash", ColumnKind::Text, "the source's pair hash (LAION: mmh3 of url+caption, decimal; or md5 hex)"),
    col("optout_noai", ColumnKind::Bool, "page said noai (X-Robots-Tag or meta robots)"),
    col("optout_noimageai", ColumnKind::Bool, "page said noimageai"),
    col("optout_tdm_reservation", ColumnKind::Bool, "page reserved text-and-data-mining rights (TDMRep)"),
    CanonicalColumn {
        name: "host",
        kind: ColumnKind::Text,
        nullable: true,
        derived: true,
        doc: "the image URL's host, lower-case",
    },
    CanonicalColumn {
        name: "domain",
        kind: ColumnKind::Text,
        nullable: true,
        derived: true,
        doc: "the host's registrable domain (Public Suffix List)",
    },
];

/// Looks a canonical column up by name (exact, lower-case).
pub fn canonical(name: &str) -> Option<&'static CanonicalColumn> {
    CANONICAL_COLUMNS.iter().find(|c| c.name == name)
}

/// The Arrow schema of the canonical columns, in storage order.
pub fn canonical_schema() -> Schema {
    Schema::new(
        CANONICAL_COLUMNS.iter().map(|c| Field::new(c.name, c.kind.data_type(), c.nullable)).collect::<Vec<_>>(),
    )
}

/// Index of the canonical column in [`CANONICAL_COLUMNS`] and in [`canonical_schema`].
pub fn canonical_index(name: &str) -> Option<usize> {
    CANONICAL_COLUMNS.iter().position(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_identifiers() {
        let mut seen = std::collections::HashSet::new();
        for c in CANONICAL_COLUMNS {
            assert!(seen.insert(c.name), "duplicate column {}", c.name);
            assert!(c.name.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_' || ch.is_ascii_digit()));
        }
    }

    #[test]
    fn schema_matches_the_table() {
        let schema = canonical_schema();
        assert_eq!(schema.fields().len(), CANONICAL_COLUMNS.len());
        assert_eq!(schema.field(canonical_index("aesthetic").unwrap()).data_type(), &DataType::Float64);
        assert!(!schema.field_with_name("url").unwrap().is_nullable());
        assert!(schema.field_with_name("page_url").unwrap().is_nullable());
    }
}
