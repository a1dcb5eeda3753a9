//! The tantivy schema every block index has, and the tokenizers it names.

use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::TokenizerManager;

use crate::tokenizer::CaptionTokenizer;

/// Bumped whenever the schema, the tokenizer or [`crate::units`] change: an index of another
/// format is rebuilt, never read.
pub const INDEX_FORMAT: u32 = 4;

/// Tokenizer of [`IndexFields::caption`]: the normalisation, without accent folding.
pub const CAPTION_TOKENIZER: &str = "pairscope";
/// Tokenizer of [`IndexFields::caption_folded`]: the normalisation with accent folding.
pub const FOLDED_TOKENIZER: &str = "pairscope_folded";

/// Numeric columns kept as fast fields, under their canonical names. Integer columns are
/// stored as i64, float ones as f64 (the canonical types widen losslessly).
pub const INT_COLUMNS: &[&str] = &["width", "height"];
pub const FLOAT_COLUMNS: &[&str] = &["similarity", "punsafe", "pwatermark", "aesthetic"];
/// Low-cardinality text columns, kept as fast fields only (`host:` … queries, facets,
/// filters).
pub const KEYWORD_COLUMNS: &[&str] = &["host", "domain", "language", "license", "nsfw_label"];
pub const BOOL_COLUMNS: &[&str] = &["optout_noai", "optout_noimageai", "optout_tdm_reservation"];

/// The fields of the schema, resolved once.
#[derive(Debug, Clone)]
pub struct IndexFields {
    pub schema: Schema,
    pub row_id: Field,
    /// The caption: tokenised by [`CAPTION_TOKENIZER`] with positions. Not stored: the block's
    /// parquet file holds the text, and keeping a second copy would double the dataset's size.
    pub caption: Field,
    /// The caption tokenised with accent folding, only for captions that folding changes
    /// (every other caption's folded tokens are its [`Self::caption`] tokens).
    pub caption_folded: Field,
    /// The image URL's [`crate::url_key`] (lower-cased, up to its first directory), as a fast
    /// (columnar) string: URL prefixes and patterns are ranges and scans of its sorted
    /// dictionary, checked against the parquet URL where the key is shorter than the pattern.
    pub url_key: Field,
    /// The page URL, the same way.
    pub page_url_key: Field,
}

impl IndexFields {
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
        let url_key = builder.add_text_field("url_key", TextOptions::default().set_fast("raw"));
        let page_url_key = builder.add_text_field("page_url_key", TextOptions::default().set_fast("raw"));
        for name in INT_COLUMNS {
            builder.add_i64_field(name, FAST);
        }
        for name in FLOAT_COLUMNS {
            builder.add_f64_field(name, FAST);
        }
        // Keywords have no postings: `host:` … is answered from the fast column's sorted
        // dictionary and ordinals (a term per row and keyword made ingest a fifth slower).
        let keyword = TextOptions::default().set_fast("raw");
        for name in KEYWORD_COLUMNS {
            builder.add_text_field(name, keyword.clone());
        }
        for name in BOOL_COLUMNS {
            builder.add_bool_field(name, FAST);
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

/// The tokenizers the schema names, to register on every index opened for writing.
pub fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(CAPTION_TOKENIZER, CaptionTokenizer::new(false));
    manager.register(FOLDED_TOKENIZER, CaptionTokenizer::new(true));
    manager
}
