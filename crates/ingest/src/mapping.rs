//! Which source column feeds which canonical column.
//!
//! Columns are recognised by name, case-insensitively, by the names
//! [`pairscope_model::columns::source_names`] gives (the layouts people actually have, and why
//! each name maps where it does). Everything not mapped is kept as an extra column.

use std::collections::{BTreeMap, HashSet};

use arrow::datatypes::{DataType, Schema};
use pairscope_model::columns::{CANONICAL_COLUMNS, CanonicalColumn, ColumnKind, canonical, source_names};

/// Where a canonical column's values come from.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSource {
    /// The source column at this index.
    Column(usize),
    /// The same value for every row (`--set`), already checked to parse as the column's kind.
    Constant(String),
    /// Null for every row.
    Absent,
}

/// An extra (unmapped) source column and the name it is stored under.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraField {
    /// Its index in the source schema.
    pub index: usize,
    /// The name it is stored and queried under (its own, or renamed to stay distinct).
    pub name: String,
}

/// The resolved mapping of one source schema.
#[derive(Debug, Clone)]
pub struct ColumnMapping {
    /// One entry per canonical column that ingest reads (not the derived ones), in
    /// [`CANONICAL_COLUMNS`] order.
    pub fields: Vec<(&'static CanonicalColumn, FieldSource)>,
    /// The source columns kept beside the canonical ones.
    pub extras: Vec<ExtraField>,
}

/// Why a source schema cannot be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingError {
    /// The source column at fault, where one is.
    pub column: Option<String>,
    /// What is wrong, for a person.
    pub reason: String,
}

/// Checks `--map canonical=source` and `--set canonical=value` arguments before any file is
/// read: the names must be canonical, readable columns; constants must parse.
pub fn validate_settings(
    overrides: &BTreeMap<String, String>,
    constants: &BTreeMap<String, String>,
) -> Result<(), String> {
    for name in overrides.keys().chain(constants.keys()) {
        match canonical(name) {
            None => {
                let known: Vec<_> = CANONICAL_COLUMNS.iter().filter(|c| !c.derived).map(|c| c.name).collect();
                return Err(format!("{name:?} is not a canonical column; one of: {}", known.join(", ")));
            }
            Some(c) if c.derived => return Err(format!("{name} is derived by pairscope and cannot be mapped or set")),
            Some(_) => {}
        }
    }
    for (name, value) in constants {
        if name == "url" || name == "caption" {
            return Err(format!("--set {name} makes no sense: every row has its own {name}"));
        }
        let kind = canonical(name).map(|c| c.kind).unwrap_or(ColumnKind::Text);
        check_constant(kind, value).map_err(|e| format!("--set {name}={value}: {e}"))?;
    }
    Ok(())
}

fn check_constant(kind: ColumnKind, value: &str) -> Result<(), String> {
    let ok = match kind {
        ColumnKind::Text => true,
        // The settable integer columns are pixel sizes, which are never negative.
        ColumnKind::Int | ColumnKind::RowId => value.parse::<i32>().is_ok_and(|v| v >= 0),
        ColumnKind::Float => value.parse::<f64>().is_ok_and(f64::is_finite),
        ColumnKind::Bool => matches!(value, "true" | "false"),
    };
    if ok { Ok(()) } else { Err(format!("not a valid {kind:?} value")) }
}

/// Whether a source column of type `data_type` can feed a column of `kind`.
fn accepts(column: &str, kind: ColumnKind, data_type: &DataType) -> bool {
    let data_type = match data_type {
        DataType::Dictionary(_, value) => value.as_ref(),
        other => other,
    };
    let textual = matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    );
    match kind {
        // URLs and captions must be text; an identifier or hash may be stored as a number.
        ColumnKind::Text
            if matches!(column, "url" | "caption" | "page_url" | "nsfw_label" | "language" | "license") =>
        {
            textual
        }
        ColumnKind::Text => textual || data_type.is_integer(),
        ColumnKind::Int | ColumnKind::Float | ColumnKind::RowId => data_type.is_numeric(),
        ColumnKind::Bool => matches!(data_type, DataType::Boolean),
    }
}

impl ColumnMapping {
    /// Maps `schema` onto the canonical columns.
    pub fn resolve(
        schema: &Schema,
        overrides: &BTreeMap<String, String>,
        constants: &BTreeMap<String, String>,
    ) -> Result<ColumnMapping, MappingError> {
        let lower: Vec<String> = schema.fields().iter().map(|f| f.name().to_lowercase()).collect();
        let find = |name: &str| lower.iter().position(|n| n == &name.to_lowercase());
        let mut used = HashSet::new();
        let mut fields = Vec::new();
        for column in CANONICAL_COLUMNS.iter().filter(|c| !c.derived) {
            let source = if let Some(value) = constants.get(column.name) {
                FieldSource::Constant(value.clone())
            } else if let Some(wanted) = overrides.get(column.name) {
                let index = find(wanted).ok_or_else(|| MappingError {
                    column: Some(wanted.clone()),
                    reason: format!("--map {}={wanted}: the file has no column {wanted:?}", column.name),
                })?;
                FieldSource::Column(index)
            } else {
                source_names(column.name)
                    .iter()
                    .filter_map(|c| find(c))
                    .find(|i| !used.contains(i))
                    .map_or(FieldSource::Absent, FieldSource::Column)
            };
            if let FieldSource::Column(index) = source {
                let field = schema.field(index);
                if !accepts(column.name, column.kind, field.data_type()) {
                    // A numeric `NSFW` is some detector's score, not LAION's label: keep it as it is.
                    if column.name == "nsfw_label" && !overrides.contains_key(column.name) {
                        fields.push((column, FieldSource::Absent));
                        continue;
                    }
                    return Err(MappingError {
                        column: Some(field.name().clone()),
                        reason: format!(
                            "has type {}, which cannot hold {} ({:?})",
                            field.data_type(),
                            column.name,
                            column.kind
                        ),
                    });
                }
                used.insert(index);
            }
            fields.push((column, source));
        }
        for required in ["url", "caption"] {
            let missing = fields.iter().any(|(c, s)| c.name == required && *s == FieldSource::Absent);
            if missing {
                let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(MappingError {
                    column: Some(required.to_string()),
                    reason: format!(
                        "no {required} column (looked for {}; the file has: {}); name it with --map {required}=COLUMN",
                        source_names(required).join(", "),
                        names.join(", ")
                    ),
                });
            }
        }
        let mut taken: HashSet<String> = CANONICAL_COLUMNS.iter().map(|c| c.name.to_string()).collect();
        let mut extras = Vec::new();
        for (index, name) in lower.iter().enumerate() {
            if used.contains(&index) {
                continue;
            }
            let mut stored = if taken.contains(name) { format!("src_{name}") } else { name.clone() };
            let base = stored.clone();
            let mut n = 2;
            while taken.contains(&stored) {
                stored = format!("{base}_{n}");
                n += 1;
            }
            taken.insert(stored.clone());
            extras.push(ExtraField { index, name: stored });
        }
        Ok(ColumnMapping { fields, extras })
    }

    /// Canonical column ← source column name, for the manifest and `info`.
    pub fn describe(&self, schema: &Schema) -> BTreeMap<String, String> {
        self.fields
            .iter()
            .filter_map(|(c, s)| match s {
                FieldSource::Column(i) => Some((c.name.to_string(), schema.field(*i).name().clone())),
                FieldSource::Constant(v) => Some((c.name.to_string(), format!("= {v:?} (--set)"))),
                FieldSource::Absent => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;

    fn schema(cols: &[(&str, DataType)]) -> Schema {
        Schema::new(cols.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>())
    }

    fn source_of(m: &ColumnMapping, s: &Schema, canonical: &str) -> Option<String> {
        m.describe(s).get(canonical).cloned()
    }

    #[test]
    fn laion_5b_upper_case() {
        let s = schema(&[
            ("SAMPLE_ID", DataType::Int64),
            ("URL", DataType::Utf8),
            ("TEXT", DataType::Utf8),
            ("HEIGHT", DataType::Int32),
            ("WIDTH", DataType::Int32),
            ("LICENSE", DataType::Utf8),
            ("NSFW", DataType::Utf8),
            ("similarity", DataType::Float64),
            ("LANGUAGE", DataType::Utf8),
        ]);
        let m = ColumnMapping::resolve(&s, &Default::default(), &Default::default()).unwrap();
        assert_eq!(source_of(&m, &s, "caption").as_deref(), Some("TEXT"));
        assert_eq!(source_of(&m, &s, "nsfw_label").as_deref(), Some("NSFW"));
        assert_eq!(source_of(&m, &s, "sample_id").as_deref(), Some("SAMPLE_ID"));
        assert!(m.extras.is_empty());
    }

    #[test]
    fn img2dataset_prefers_original_size_and_keeps_resized() {
        let s = schema(&[
            ("url", DataType::Utf8),
            ("caption", DataType::Utf8),
            ("width", DataType::Int64),
            ("height", DataType::Int64),
            ("original_width", DataType::Int64),
            ("original_height", DataType::Int64),
            ("status", DataType::Utf8),
        ]);
        let m = ColumnMapping::resolve(&s, &Default::default(), &Default::default()).unwrap();
        assert_eq!(source_of(&m, &s, "width").as_deref(), Some("original_width"));
        let extras: Vec<_> = m.extras.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(extras, ["src_width", "src_height", "status"]);
    }

    #[test]
    fn coyo_maps_only_same_model_scores() {
        let s = schema(&[
            ("id", DataType::Int64),
            ("url", DataType::Utf8),
            ("text", DataType::Utf8),
            ("clip_similarity_vitb32", DataType::Float32),
            ("clip_similarity_vitl14", DataType::Float32),
            ("watermark_score", DataType::Float32),
            ("aesthetic_score_laion_v2", DataType::Float32),
        ]);
        let m = ColumnMapping::resolve(&s, &Default::default(), &Default::default()).unwrap();
        assert_eq!(source_of(&m, &s, "similarity").as_deref(), Some("clip_similarity_vitb32"));
        assert_eq!(source_of(&m, &s, "aesthetic").as_deref(), Some("aesthetic_score_laion_v2"));
        assert_eq!(source_of(&m, &s, "pwatermark"), None);
        assert!(m.extras.iter().any(|e| e.name == "watermark_score"));
    }

    #[test]
    fn overrides_constants_and_errors() {
        let s = schema(&[("link", DataType::Utf8), ("alt_text", DataType::Utf8), ("lang", DataType::Utf8)]);
        let err = ColumnMapping::resolve(&s, &Default::default(), &Default::default()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("url"));
        assert!(err.reason.contains("--map url=COLUMN"), "{}", err.reason);
        let overrides = BTreeMap::from([("url".to_string(), "LINK".to_string())]);
        let constants = BTreeMap::from([("language".to_string(), "en".to_string())]);
        let m = ColumnMapping::resolve(&s, &overrides, &constants).unwrap();
        assert_eq!(source_of(&m, &s, "url").as_deref(), Some("link"));
        assert_eq!(source_of(&m, &s, "language").as_deref(), Some("= \"en\" (--set)"));
        assert_eq!(m.extras.len(), 1);

        let bad = schema(&[("url", DataType::Int64), ("text", DataType::Utf8)]);
        let err = ColumnMapping::resolve(&bad, &Default::default(), &Default::default()).unwrap_err();
        assert_eq!(err.column.as_deref(), Some("url"));
        assert!(err.reason.contains("Int64"));
    }

    #[test]
    fn settings_are_validated() {
        let c = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(validate_settings(&Default::default(), &c("language", "en")).is_ok());
        assert!(validate_settings(&Default::default(), &c("width", "abc")).is_err());
        assert!(validate_settings(&Default::default(), &c("host", "x")).is_err());
        assert!(validate_settings(&c("nonsense", "x"), &Default::default()).is_err());
        assert!(validate_settings(&Default::default(), &c("caption", "x")).is_err());
    }
}
