//! The canonical columns of a pair. Every reader maps its source onto these names; every
//! command (filter language, SQL, facets, web UI) refers to rows by them.
//!
//! Columns a source carries that are not mapped here are kept under their own (lower-cased)
//! name beside these; a source column whose name collides with a canonical one without being
//! mapped onto it is kept as `src_<name>` (img2dataset's resized `width` becomes `src_width`).
//!
//! Each column declares its roles here ([`Roles`]: kept in the index as which field, sortable,
//! counted by facets how, offered by the search form how, drawn on the overview), and every
//! list of columns elsewhere is derived from a [`Registry`] of them: the index schema, the
//! sort orders, the facet checks and default histogram ranges, the search form's fields, the
//! CLI's possible values and the OpenAPI enums. A new score column is one entry in
//! [`CANONICAL_COLUMNS`] (and, to show it in a hit, one field of `pairscope_query::Hit`).

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
    /// The Arrow type a column of this kind has in stored rows and in [`canonical_schema`].
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::RowId => DataType::Int64,
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Int => DataType::Int32,
            ColumnKind::Float => DataType::Float64,
            ColumnKind::Bool => DataType::Boolean,
        }
    }

    /// Whether values of this kind are numbers (compared and histogrammed as such).
    pub fn is_numeric(self) -> bool {
        matches!(self, ColumnKind::RowId | ColumnKind::Int | ColumnKind::Float)
    }
}

/// How a column's value reaches a block index (`pairscope-index`): as a tantivy fast
/// (columnar) field of its kind (`Int` → i64, `Float` → f64, `Text` → a raw keyword without
/// postings, `Bool` → bool), under its own name.
///
/// The number is the field's position in the index schema: tantivy numbers fields in the
/// order they are added, so the order is part of the on-disk format (`INDEX_FORMAT`) and is
/// kept here as data rather than derived from this table's order (which is the parquet
/// storage order, fixed too). A new column takes the next free number.
pub type IndexField = u32;

/// How facets count a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FacetRole {
    /// Its most frequent values (a keyword or a flag).
    Terms,
    /// A histogram with these edges unless a request gives others: `[lo, hi)`.
    Histogram {
        /// The lower edge of the first bucket, included.
        lo: f64,
        /// The upper edge of the last bucket, excluded.
        hi: f64,
    },
}

/// How the web search form offers a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    /// `NAME_min` and `NAME_max`: numbers (a score).
    Range,
    /// `min_NAME`: a whole number (an image size).
    AtLeast,
    /// `NAME`: one exact value, which the links of a facet's values set (a keyword). These are
    /// also the columns a mentions count can be broken down by, so each value it lists can
    /// link to the search of its rows.
    Equals,
}

/// What every command may do with a column, declared once: the index schema, the sort orders,
/// the facets, the search form, the web overview and the OpenAPI enums are derived from these
/// (see [`Registry`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roles {
    /// Kept in every block index, as this field (see [`IndexField`]).
    pub index: Option<IndexField>,
    /// Results can be ordered by it (numeric columns the index keeps).
    pub sortable: bool,
    /// How facets count it; `None`: it cannot be a facet.
    pub facet: Option<FacetRole>,
    /// How the web search form offers it; `None`: the form has no field for it.
    pub form: Option<FormField>,
    /// Drawn as a histogram on the web overview (a [`FacetRole::Histogram`] column).
    pub overview: bool,
}

impl Roles {
    /// A column only stored (and read by the filter language and SQL from the stored rows).
    pub const STORED: Roles = Roles { index: None, sortable: false, facet: None, form: None, overview: false };
}

/// One canonical column.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalColumn {
    /// The column's name in stored rows, EXPRs, SQL and the index (lower-case).
    pub name: &'static str,
    /// Its value type.
    pub kind: ColumnKind,
    /// `false` only for the columns every stored row has.
    pub nullable: bool,
    /// Whether ingest derives it (never read from a source).
    pub derived: bool,
    /// What it means, one line, as `pairscope info` and the docs list it.
    pub doc: &'static str,
    /// What commands may do with it.
    pub roles: Roles,
}

impl CanonicalColumn {
    /// A nullable column read from sources, only stored; the methods below give it roles.
    pub const fn new(name: &'static str, kind: ColumnKind, doc: &'static str) -> CanonicalColumn {
        CanonicalColumn { name, kind, nullable: true, derived: false, doc, roles: Roles::STORED }
    }

    const fn required(self) -> CanonicalColumn {
        CanonicalColumn { nullable: false, ..self }
    }

    const fn derived(self) -> CanonicalColumn {
        CanonicalColumn { derived: true, ..self }
    }

    /// Kept in the index as field `field`.
    pub const fn indexed(self, field: IndexField) -> CanonicalColumn {
        CanonicalColumn { roles: Roles { index: Some(field), ..self.roles }, ..self }
    }

    /// Indexed as `field`, sortable, a histogram over `[lo, hi)` by default, and offered by the
    /// search form as `form`: a score or a size.
    pub const fn measure(self, field: IndexField, lo: f64, hi: f64, form: FormField) -> CanonicalColumn {
        let roles = Roles {
            index: Some(field),
            sortable: true,
            facet: Some(FacetRole::Histogram { lo, hi }),
            form: Some(form),
            overview: self.roles.overview,
        };
        CanonicalColumn { roles, ..self }
    }

    /// Indexed as `field` and counted by its top values (a keyword or a flag).
    pub const fn term(self, field: IndexField) -> CanonicalColumn {
        CanonicalColumn { roles: Roles { index: Some(field), facet: Some(FacetRole::Terms), ..self.roles }, ..self }
    }

    /// Offered by the search form as one exact value.
    pub const fn equals(self) -> CanonicalColumn {
        CanonicalColumn { roles: Roles { form: Some(FormField::Equals), ..self.roles }, ..self }
    }

    /// Drawn on the web overview.
    pub const fn on_overview(self) -> CanonicalColumn {
        CanonicalColumn { roles: Roles { overview: true, ..self.roles }, ..self }
    }
}

use ColumnKind::{Bool, Float, Int, Text};
use FormField::{AtLeast, Range};

/// The canonical columns, in storage order.
pub const CANONICAL_COLUMNS: &[CanonicalColumn] = &[
    // The index keeps row_id itself (field 0), as it does caption (1, 2) and the URLs' keys
    // (3, 4): each is indexed its own way, not by a role.
    CanonicalColumn::new(
        "row_id",
        ColumnKind::RowId,
        "stable 63-bit identity derived from (source content hash, row index)",
    )
    .required()
    .derived(),
    CanonicalColumn::new("url", Text, "the image URL").required(),
    CanonicalColumn::new("caption", Text, "the alt text / caption (cut at --max-caption-bytes)").required(),
    CanonicalColumn::new(
        "caption_truncated_from",
        Int,
        "the caption's original length in bytes when it was cut; null otherwise",
    )
    .derived(),
    CanonicalColumn::new("page_url", Text, "the page the image was found on"),
    CanonicalColumn::new("width", Int, "the original image's width in pixels")
        .measure(5, 0.0, 4096.0, AtLeast)
        .on_overview(),
    CanonicalColumn::new("height", Int, "the original image's height in pixels")
        .measure(6, 0.0, 4096.0, AtLeast)
        .on_overview(),
    CanonicalColumn::new("similarity", Float, "CLIP ViT-B/32 image-text cosine similarity").measure(7, 0.0, 0.5, Range),
    CanonicalColumn::new("punsafe", Float, "LAION's CLIP-based probability the image is unsafe")
        .measure(8, 0.0, 1.0, Range)
        .on_overview(),
    CanonicalColumn::new("pwatermark", Float, "LAION's predicted probability of a watermark")
        .measure(9, 0.0, 1.0, Range)
        .on_overview(),
    CanonicalColumn::new("aesthetic", Float, "LAION aesthetic predictor v2 score (0-10)")
        .measure(10, 0.0, 10.0, Range)
        .on_overview(),
    CanonicalColumn::new("language", Text, "caption language (ISO 639 code as the source gives it)").term(13).equals(),
    CanonicalColumn::new("license", Text, "license detected on the page, if any").term(14),
    CanonicalColumn::new("nsfw_label", Text, "LAION-5B NSFW label: UNLIKELY, UNSURE or NSFW").term(15),
    CanonicalColumn::new("sample_id", Text, "the source's own id of the pair (SAMPLE_ID, uid, id)"),
    CanonicalColumn::new("image_sha256", Text, "SHA-256 of the image bytes, hex, where known"),
    CanonicalColumn::new("hash", Text, "the source's pair hash (LAION: mmh3 of url+caption, decimal; or md5 hex)"),
    CanonicalColumn::new("optout_noai", Bool, "page said noai (X-Robots-Tag or meta robots)").term(16),
    CanonicalColumn::new("optout_noimageai", Bool, "page said noimageai").term(17),
    CanonicalColumn::new("optout_tdm_reservation", Bool, "page reserved text-and-data-mining rights (TDMRep)").term(18),
    CanonicalColumn::new("host", Text, "the image URL's host, lower-case").derived().term(11).equals(),
    CanonicalColumn::new("domain", Text, "the host's registrable domain (Public Suffix List)")
        .derived()
        .term(12)
        .equals(),
];

/// A set of columns with their roles, and the lists every command derives from it. The
/// canonical set ([`Registry::CANONICAL`]) is the one pairscope runs with; a test builds one
/// with another column to see it reach every derived list. Each list keeps the registry's
/// order (the storage order), so a new column appears after the old ones.
#[derive(Debug, Clone, Copy)]
pub struct Registry {
    columns: &'static [CanonicalColumn],
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::CANONICAL
    }
}

impl Registry {
    /// The registry of [`CANONICAL_COLUMNS`], the one pairscope runs with.
    pub const CANONICAL: Registry = Registry { columns: CANONICAL_COLUMNS };

    const fn new(columns: &'static [CanonicalColumn]) -> Registry {
        Registry { columns }
    }

    /// Every column, in storage order.
    pub fn columns(self) -> &'static [CanonicalColumn] {
        self.columns
    }

    /// A column by name (exact, lower-case).
    pub fn get(self, name: &str) -> Option<&'static CanonicalColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns the index keeps by role, in index field order.
    pub fn indexed(self) -> Vec<&'static CanonicalColumn> {
        let mut indexed: Vec<_> = self.columns.iter().filter(|c| c.roles.index.is_some()).collect();
        indexed.sort_by_key(|c| c.roles.index);
        indexed
    }

    /// The names of the indexed columns of `kind`, in index field order.
    pub fn indexed_names(self, kind: ColumnKind) -> Vec<&'static str> {
        self.indexed().into_iter().filter(|c| c.kind == kind).map(|c| c.name).collect()
    }

    /// The columns results can be ordered by.
    pub fn sortable(self) -> impl Iterator<Item = &'static CanonicalColumn> {
        self.columns.iter().filter(|c| c.roles.sortable)
    }

    /// The columns facets can count, with how.
    pub fn facets(self) -> impl Iterator<Item = (&'static CanonicalColumn, FacetRole)> {
        self.columns.iter().filter_map(|c| c.roles.facet.map(|f| (c, f)))
    }

    /// The default histogram range of `name`, if it has histograms.
    pub fn histogram_range(self, name: &str) -> Option<(f64, f64)> {
        match self.get(name)?.roles.facet? {
            FacetRole::Histogram { lo, hi } => Some((lo, hi)),
            FacetRole::Terms => None,
        }
    }

    /// The columns of the search form, with their field.
    pub fn form_fields(self) -> impl Iterator<Item = (&'static CanonicalColumn, FormField)> {
        self.columns.iter().filter_map(|c| c.roles.form.map(|f| (c, f)))
    }

    /// These columns and one more score, `name` (a float in [0, 1), indexed after the last
    /// field, sortable, a histogram, a min–max pair of the search form): what adding a score
    /// column to [`CANONICAL_COLUMNS`] would be, for the tests that check it reaches every
    /// derived list. Leaks the list (such a registry lives as long as the process).
    pub fn with_score(self, name: &'static str) -> Registry {
        let next_field = self.columns.iter().filter_map(|c| c.roles.index).max().map_or(5, |last| last + 1);
        let score = CanonicalColumn::new(name, ColumnKind::Float, "a score only tests have").measure(
            next_field,
            0.0,
            1.0,
            FormField::Range,
        );
        let columns: Vec<CanonicalColumn> = self.columns.iter().copied().chain([score]).collect();
        Registry::new(Box::leak(columns.into_boxed_slice()))
    }

    /// The columns drawn as histograms on the web overview.
    pub fn overview_histograms(self) -> impl Iterator<Item = &'static CanonicalColumn> {
        self.columns.iter().filter(|c| c.roles.overview)
    }
}

/// Source column names each canonical column is recognised from, in order of preference
/// (lower-case), from the layouts people actually have: LAION-5B / 2B-en / 2B-multi /
/// 1B-nolang, LAION-Aesthetics, COYO-700M, DataComp CommonPool, img2dataset and cc2dataset
/// output. A score is mapped onto a LAION name only when the same model produced it (COYO's
/// `aesthetic_score_laion_v2` is LAION's aesthetic predictor v2; COYO's and DataComp's CLIP
/// ViT-B/32 similarities are the model LAION-2B-en's `similarity` used); other scores (COYO's
/// `watermark_score`, its NSFW scores, ViT-L/14 similarities) keep their own names.
/// `width`/`height` prefer the original size: img2dataset's and DataComp's plain
/// `width`/`height` are the resized image.
const SOURCE_NAMES: &[(&str, &[&str])] = &[
    ("url", &["url", "image_url"]),
    ("caption", &["caption", "text", "alt", "alt_text"]),
    ("page_url", &["page_url"]),
    ("width", &["original_width", "width"]),
    ("height", &["original_height", "height"]),
    ("similarity", &["similarity", "clip_similarity_vitb32", "clip_b32_similarity_score"]),
    ("punsafe", &["punsafe"]),
    ("pwatermark", &["pwatermark"]),
    ("aesthetic", &["aesthetic", "aesthetic_score", "aesthetic_score_laion_v2"]),
    ("language", &["language"]),
    ("license", &["license"]),
    ("nsfw_label", &["nsfw", "nsfw_label"]),
    ("sample_id", &["sample_id", "uid", "id"]),
    ("image_sha256", &["image_sha256", "sha256"]),
    ("hash", &["hash"]),
    ("optout_noai", &["optout_noai"]),
    ("optout_noimageai", &["optout_noimageai"]),
    ("optout_tdm_reservation", &["optout_tdm_reservation"]),
];

/// The source column names (lower-case, in order of preference) that canonical column `name`
/// is read from: ingest's column recognition, and `fetch --from`'s.
pub fn source_names(name: &str) -> &'static [&'static str] {
    SOURCE_NAMES.iter().find(|(column, _)| *column == name).map_or(&[], |(_, names)| names)
}

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
    fn every_role_fits_its_column_kind() {
        let mut fields = std::collections::HashSet::new();
        for c in CANONICAL_COLUMNS {
            let roles = c.roles;
            if let Some(field) = roles.index {
                // Fields 0–4 are row_id, caption, caption_folded, url_key and page_url_key.
                assert!(field >= 5 && fields.insert(field), "{}: field {field} is taken", c.name);
                assert!(matches!(c.kind, Int | Float | Text | Bool), "{}", c.name);
            }
            if roles.sortable {
                assert!(roles.index.is_some() && matches!(c.kind, Int | Float), "{} cannot be a sort key", c.name);
            }
            match roles.facet {
                Some(FacetRole::Histogram { lo, hi }) => {
                    assert!(matches!(c.kind, Int | Float) && lo < hi && roles.index.is_some(), "{}", c.name)
                }
                Some(FacetRole::Terms) => assert!(matches!(c.kind, Text | Bool) && roles.index.is_some(), "{}", c.name),
                None => {}
            }
            match roles.form {
                Some(FormField::Range) => assert_eq!(c.kind, Float, "{}", c.name),
                Some(FormField::AtLeast) => assert_eq!(c.kind, Int, "{}", c.name),
                Some(FormField::Equals) => assert_eq!(roles.facet, Some(FacetRole::Terms), "{}", c.name),
                None => {}
            }
            if roles.overview {
                assert!(Registry::CANONICAL.histogram_range(c.name).is_some(), "{}", c.name);
            }
        }
        // The index fields follow one another: a gap would be a field the schema never adds.
        assert_eq!(fields.len() as u32, fields.iter().max().map_or(0, |m| m - 4));
    }

    #[test]
    fn a_score_added_to_the_registry_is_indexed_last_sortable_and_a_histogram() {
        let registry = Registry::CANONICAL.with_score("watermark_v2");
        let last = *registry.indexed().last().unwrap();
        assert_eq!(last.name, "watermark_v2");
        assert_eq!(last.roles.index, Registry::CANONICAL.indexed().last().unwrap().roles.index.map(|f| f + 1));
        assert!(registry.sortable().any(|c| c.name == "watermark_v2"));
        assert_eq!(registry.histogram_range("watermark_v2"), Some((0.0, 1.0)));
        assert_eq!(registry.indexed_names(Float).last(), Some(&"watermark_v2"));
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
