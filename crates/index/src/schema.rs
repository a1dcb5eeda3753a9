//! The tantivy schema every block index has, and the tokenizers it names.

use std::sync::LazyLock;

use pairscope_model::{ColumnKind, Registry};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::TokenizerManager;

use crate::tokenizer::CaptionTokenizer;

/// Bumped whenever the schema, the tokenizer or [`crate::units`] change: an index of another
/// format is rebuilt, never read.
pub const INDEX_FORMAT: u32 = 5;

/// Tokenizer of [`IndexFields::caption`]: the normalisation, without accent folding.
pub const CAPTION_TOKENIZER: &str = "pairscope";
/// Tokenizer of [`IndexFields::caption_folded`]: the normalisation with accent folding.
pub const FOLDED_TOKENIZER: &str = "pairscope_folded";

/// The columns kept as fast fields under their canonical names, by kind, in field order: the
/// columns [`Registry::CANONICAL`] gives an index field. Integer columns are stored as i64,
/// float ones as f64 (the canonical types widen losslessly).
pub static INT_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| indexed(ColumnKind::Int));
/// The float (score) columns, kept as f64 fast fields, in field order.
pub static FLOAT_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| indexed(ColumnKind::Float));
/// Low-cardinality text columns, kept as fast fields only (`host:` … queries, facets,
/// filters).
pub static KEYWORD_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| indexed(ColumnKind::Text));
/// The flag columns, kept as bool fast fields, in field order.
pub static BOOL_COLUMNS: LazyLock<Vec<&'static str>> = LazyLock::new(|| indexed(ColumnKind::Bool));

fn indexed(kind: ColumnKind) -> Vec<&'static str> {
    Registry::CANONICAL.indexed_names(kind)
}

/// The fields of the schema, resolved once.
#[derive(Debug, Clone)]
pub struct IndexFields {
    /// The whole schema, the same for every block index of this [`INDEX_FORMAT`].
    pub schema: Schema,
    /// The row's id as an i64 fast field: document `n`'s is row `n`'s of the block.
    pub row_id: Field,
    /// The caption: tokenised by [`CAPTION_TOKENIZER`] with positions. Not stored: the block's
    /// parquet file holds the text, and keeping a second copy would double the dataset's size.
    pub caption: Field,
    /// The caption tokenised with accent folding, only for captions that folding changes
    /// (every other caption's folded tokens are its [`Self::caption`] tokens).
    pub caption_folded: Field,
    /// The image URL's [`crate::url_key`] (lower-cased, up to its second directory), as one
    /// untokenised term with postings (no frequencies, positions or norms): a URL prefix is a
    /// range of the sorted term dictionary and the postings of its terms, O(log n + k) — the
    /// rows a page needs, not a pass over every row's key — checked against the parquet URL
    /// where the key is shorter than the pattern.
    pub url_key: Field,
    /// The page URL, the same way.
    pub page_url_key: Field,
}

impl IndexFields {
    /// Builds the schema and resolves its fields.
    pub fn new() -> IndexFields {
        let mut builder = Schema::builder();
        let row_id = builder.add_i64_field("row_id", FAST);
        let text = |tokenizer: &str| {
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        };
        let caption =
            builder.add_text_field("caption", TextOptions::default().set_indexing_options(text(CAPTION_TOKENIZER)));
        let caption_folded = builder
            .add_text_field("caption_folded", TextOptions::default().set_indexing_options(text(FOLDED_TOKENIZER)));
        let url_key = builder.add_text_field("url_key", url_key_options());
        let page_url_key = builder.add_text_field("page_url_key", url_key_options());
        // Keywords have no postings: `host:` … is answered from the fast column's sorted
        // dictionary and ordinals (a term per row and keyword made ingest a fifth slower).
        let keyword = TextOptions::default().set_fast("raw");
        for column in Registry::CANONICAL.indexed() {
            let field = match column.kind {
                ColumnKind::Int => builder.add_i64_field(column.name, FAST),
                ColumnKind::Float => builder.add_f64_field(column.name, FAST),
                ColumnKind::Text => builder.add_text_field(column.name, keyword.clone()),
                ColumnKind::Bool => builder.add_bool_field(column.name, FAST),
                // Every row has its own id field (above); the registry gives it no role.
                ColumnKind::RowId => continue,
            };
            debug_assert_eq!(
                column.roles.index,
                Some(field.field_id()),
                "{}: index fields are numbered in order",
                column.name
            );
        }
        IndexFields { schema: builder.build(), row_id, caption, caption_folded, url_key, page_url_key }
    }

    /// A field by name (the canonical column names above, and the fields of this struct).
    pub fn field(&self, name: &str) -> Option<Field> {
        self.schema.get_field(name).ok()
    }
}

impl Default for IndexFields {
    fn default() -> Self {
        Self::new()
    }
}

/// A URL key field's options (see [`IndexFields::url_key`]).
fn url_key_options() -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    )
}

/// The tokenizers the schema names, to register on every index opened for writing.
pub fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(CAPTION_TOKENIZER, CaptionTokenizer::new(false));
    manager.register(FOLDED_TOKENIZER, CaptionTokenizer::new(true));
    manager
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema of `INDEX_FORMAT` 5, field by field: the registry must build exactly this,
    /// or indexes on disk would no longer open.
    fn format_5_schema() -> Schema {
        let mut builder = Schema::builder();
        builder.add_i64_field("row_id", FAST);
        let text = |tokenizer: &str| {
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        };
        builder.add_text_field("caption", TextOptions::default().set_indexing_options(text(CAPTION_TOKENIZER)));
        builder.add_text_field("caption_folded", TextOptions::default().set_indexing_options(text(FOLDED_TOKENIZER)));
        let url_key = TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        builder.add_text_field("url_key", TextOptions::default().set_indexing_options(url_key.clone()));
        builder.add_text_field("page_url_key", TextOptions::default().set_indexing_options(url_key));
        for name in ["width", "height"] {
            builder.add_i64_field(name, FAST);
        }
        for name in ["similarity", "punsafe", "pwatermark", "aesthetic"] {
            builder.add_f64_field(name, FAST);
        }
        for name in ["host", "domain", "language", "license", "nsfw_label"] {
            builder.add_text_field(name, TextOptions::default().set_fast("raw"));
        }
        for name in ["optout_noai", "optout_noimageai", "optout_tdm_reservation"] {
            builder.add_bool_field(name, FAST);
        }
        builder.build()
    }

    #[test]
    fn the_registry_builds_the_format_5_schema_field_for_field() {
        let derived = serde_json::to_string_pretty(&IndexFields::new().schema).unwrap();
        let frozen = serde_json::to_string_pretty(&format_5_schema()).unwrap();
        assert_eq!(derived, frozen);
    }
}
