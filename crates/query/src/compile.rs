//! QUERY AST and `--url` patterns → tantivy queries with exactly the text-matching semantics
//! of `pairscope_text::reference::alias_matches`.
//!
//! - A word or phrase without substring-script characters: its normalised tokens as a term or
//!   a phrase on `caption` (exact: index terms are whole canonical tokens, see
//!   `pairscope_index::units`).
//! - One run of substring-script characters and nothing else: the phrase of its bigrams (or its
//!   unigram) — exact by construction of the index.
//! - Anything else containing substring-script characters (`北斎 hokusai`, `ab北斎`): a
//!   candidate query that every match satisfies, checked document by document against the
//!   caption in the block's parquet file (`VerifiedQuery`), so the result is exact too.
//! - With accent folding, each of these on `caption` OR `caption_folded`, with the query folded.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, StringArray};
use pairscope_index::IndexFields;
use pairscope_index::schema::KEYWORD_COLUMNS;
use pairscope_index::tantivy::columnar::StrColumn;
use pairscope_index::tantivy::index::SegmentId;
use pairscope_index::tantivy::postings::TermInfo;
use pairscope_index::tantivy::query::{
    AllQuery, BitSetDocSet, BooleanQuery, ConstScorer, EmptyQuery, EmptyScorer, EnableScoring, Explanation, Occur,
    PhrasePrefixQuery, PhraseQuery, Query, Scorer, TermQuery, TermSetQuery, Weight,
};
use pairscope_index::tantivy::schema::{Field, IndexRecordOption};
use pairscope_index::tantivy::termdict::TermStreamer;
use pairscope_index::tantivy::{
    BitSet, DocId, DocSet, InvertedIndexReader, Score, SegmentReader, TERMINATED, TantivyError, Term,
};
use pairscope_index::units::{UnitTerm, index_units};
use pairscope_text::{Normalizer, has_substring_script};

use crate::engine::Block;
use crate::error::{QueryError, ReadFailure, Result};
use crate::parse::QueryAst;
use crate::rows::BlockRows;

/// Most distinct index terms one `prefix*` may stand for (over all blocks); a shorter prefix
/// that matches more is refused rather than truncated.
pub const MAX_PREFIX_TERMS: usize = 20_000;

/// The parquet rows of each segment, for queries that check candidates against them, and where
/// such a query keeps the first failure to read them (a scorer cannot return an error). One per
/// call: the scan that ran the query returns the failure.
#[derive(Clone)]
pub(crate) struct RowAccess {
    pub rows: Arc<HashMap<SegmentId, Arc<BlockRows>>>,
    pub failure: Arc<ReadFailure>,
}

#[derive(Clone, Copy)]
pub(crate) struct Compiler<'a> {
    pub fields: &'a IndexFields,
    pub blocks: &'a [Block],
    pub rows: &'a RowAccess,
    pub fold_accents: bool,
    /// Compile the *relaxed* query: every phrase, and every caption check, that must hold
    /// (not under a NOT) becomes the conjunction of its terms, a superset that skips the
    /// costliest per-document work (positions, parquet reads). [`Compiler::relaxed`] tells
    /// whether anything was relaxed.
    pub relax: bool,
    pub relaxed: &'a Cell<bool>,
}

impl Compiler<'_> {
    pub fn compile(&self, ast: &QueryAst) -> Result<Box<dyn Query>> {
        Ok(match ast {
            QueryAst::Text { text, prefix, offset } => self.text(text, *prefix, *offset)?,
            QueryAst::Field { field, value, offset } => self.field(field, value, *offset)?,
            QueryAst::And(items) => {
                let mut clauses = Vec::new();
                let mut positive = false;
                for item in items {
                    if let QueryAst::Not(inner) = item {
                        clauses.push((Occur::MustNot, self.exact().compile(inner)?));
                    } else {
                        positive = true;
                        clauses.push((Occur::Must, self.compile(item)?));
                    }
                }
                if !positive {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            QueryAst::Or(items) => Box::new(BooleanQuery::new(
                items.iter().map(|item| Ok((Occur::Should, self.compile(item)?))).collect::<Result<Vec<_>>>()?,
            )),
            QueryAst::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery)),
                (Occur::MustNot, self.exact().compile(inner)?),
            ])),
        })
    }

    /// This compiler without relaxing: what a NOT excludes must be excluded exactly, or the
    /// relaxed query would match fewer rows, not more.
    fn exact(&self) -> Self {
        Compiler { relax: false, ..*self }
    }

    /// The phrase of `terms` (a term alone when there is one), or when relaxing, their
    /// conjunction.
    fn phrase(&self, terms: Vec<Term>) -> Box<dyn Query> {
        if self.relax && terms.len() > 1 {
            self.relaxed.set(true);
            let each = terms.into_iter().map(|t| term_query(t) as Box<dyn Query>).collect();
            return all_of(each);
        }
        term_or_phrase(terms)
    }

    /// Captions mentioning any of `aliases` (whole tokens, substring for substring scripts):
    /// each alias is a phrase, whatever operators or quotes its text holds.
    pub fn any_alias(&self, aliases: &[String]) -> Result<Box<dyn Query>> {
        let queries = aliases.iter().map(|alias| self.text(alias, false, 0)).collect::<Result<Vec<_>>>()?;
        Ok(any_of(queries))
    }

    fn text(&self, text: &str, prefix: bool, offset: usize) -> Result<Box<dyn Query>> {
        let canonical = pairscope_text::normalize(text, self.fold_accents);
        if canonical.is_empty() {
            return Err(QueryError::usage(format!(
                "the word or phrase at byte {offset} of the query has no letters or digits to search for"
            )));
        }
        let mut fields = vec![self.fields.caption];
        if self.fold_accents {
            fields.push(self.fields.caption_folded);
        }
        let queries = fields
            .into_iter()
            .map(|field| self.text_on(field, &canonical, prefix && !has_substring_script(&canonical)))
            .collect::<Result<Vec<_>>>()?;
        Ok(any_of(queries))
    }

    /// The query for a canonical form on one caption field.
    fn text_on(&self, field: Field, canonical: &str, prefix: bool) -> Result<Box<dyn Query>> {
        if !has_substring_script(canonical) {
            let terms =
                |text: &str| -> Vec<Term> { text.split(' ').map(|t| Term::from_field_text(field, t)).collect() };
            if !prefix {
                return Ok(self.phrase(terms(canonical)));
            }
            // The last token is the prefix; the tokens before it, if any, the phrase it ends.
            let (phrase, last) = canonical.rsplit_once(' ').map_or((Vec::new(), canonical), |(p, l)| (terms(p), l));
            return self.prefix(field, phrase, last);
        }
        // Necessary conditions: each substring-script run as its bigram phrase, and each token
        // strictly inside the text as a whole token (the first and last may be cut in a match).
        let mut conditions: Vec<Box<dyn Query>> = Vec::new();
        let tokens: Vec<&str> = canonical.split(' ').collect();
        let mut run: Vec<Term> = Vec::new();
        let mut term = String::new();
        let flush = |run: &mut Vec<Term>, conditions: &mut Vec<Box<dyn Query>>| {
            if !run.is_empty() {
                conditions.push(self.phrase(std::mem::take(run)));
            }
        };
        for (i, token) in tokens.iter().enumerate() {
            let interior = i > 0 && i + 1 < tokens.len();
            let mut single_char_run: Option<Term> = None;
            index_units(token, |unit| {
                unit.term.write_term(&mut term);
                match unit.term {
                    UnitTerm::Token(_) if interior => conditions.push(term_query(Term::from_field_text(field, &term))),
                    UnitTerm::Token(_) | UnitTerm::Partial(_) => {
                        flush(&mut run, &mut conditions);
                        if let Some(t) = single_char_run.take() {
                            conditions.push(term_query(t));
                        }
                    }
                    // A run's first character stands alone until a bigram continues it;
                    // later characters are covered by the bigram ending on them.
                    UnitTerm::Unigram(_) if run.is_empty() => {
                        single_char_run = Some(Term::from_field_text(field, &term));
                    }
                    UnitTerm::Unigram(_) => {}
                    UnitTerm::Bigram(_) => {
                        single_char_run = None;
                        run.push(Term::from_field_text(field, &term));
                    }
                }
            });
            flush(&mut run, &mut conditions);
            if let Some(t) = single_char_run.take() {
                conditions.push(term_query(t));
            }
        }
        let exact_by_index = tokens.len() == 1 && tokens[0].chars().all(pairscope_text::is_substring_script_char);
        let candidates = all_of(conditions);
        if exact_by_index {
            return Ok(candidates);
        }
        if self.relax {
            self.relaxed.set(true);
            return Ok(candidates);
        }
        Ok(Box::new(VerifiedQuery {
            inner: candidates,
            needle: Arc::from(canonical),
            fold_accents: self.fold_accents,
            rows: self.rows.clone(),
        }))
    }

    /// `terms` followed by a term starting with `prefix`; refused when the prefix stands for
    /// too many terms.
    fn prefix(&self, field: Field, mut terms: Vec<Term>, prefix: &str) -> Result<Box<dyn Query>> {
        let mut expansions: Vec<Term> = Vec::new();
        for block in self.blocks {
            let error = |e: TantivyError| QueryError::Index(pairscope_index::IndexError::tantivy(block.index.dir(), e));
            for segment in block.index.searcher().segment_readers() {
                let dictionary = segment.inverted_index(field).map_err(error)?;
                let mut stream =
                    dictionary.terms().range().ge(prefix.as_bytes()).into_stream().map_err(|e| error(e.into()))?;
                while stream.advance() {
                    let key = stream.key();
                    if !key.starts_with(prefix.as_bytes()) {
                        break;
                    }
                    let Ok(text) = std::str::from_utf8(key) else { continue };
                    expansions.push(Term::from_field_text(field, text));
                    if expansions.len() > MAX_PREFIX_TERMS * 4 {
                        expansions.sort();
                        expansions.dedup();
                        if expansions.len() > MAX_PREFIX_TERMS {
                            return Err(too_many());
                        }
                    }
                }
            }
        }
        expansions.sort();
        expansions.dedup();
        if expansions.len() > MAX_PREFIX_TERMS {
            return Err(too_many());
        }
        if expansions.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        if terms.is_empty() {
            return Ok(Box::new(TermSetQuery::new(expansions)));
        }
        terms.push(Term::from_field_text(field, prefix));
        let mut query = PhrasePrefixQuery::new(terms);
        query.set_max_expansions(MAX_PREFIX_TERMS as u32);
        Ok(Box::new(query))
    }

    fn field(&self, name: &str, value: &str, offset: usize) -> Result<Box<dyn Query>> {
        match name {
            "url" => url_pattern("url", value, self.rows),
            "page_url" => url_pattern("page_url", value, self.rows),
            _ => {
                let field_name = KEYWORD_COLUMNS.iter().copied().find(|k| *k == name).ok_or_else(|| {
                    QueryError::usage(format!("the field at byte {offset} of the query is not one a query can name"))
                })?;
                // Hosts and domains are stored lower-case; other values exactly as given.
                let value =
                    if matches!(name, "host" | "domain") { value.to_ascii_lowercase() } else { value.to_string() };
                Ok(keyword_equals(field_name, value))
            }
        }
    }
}

fn too_many() -> QueryError {
    QueryError::usage(format!(
        "a prefix of the query matches more than {MAX_PREFIX_TERMS} distinct words; make it longer"
    ))
}

fn term_query(term: Term) -> Box<TermQuery> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

fn term_or_phrase(terms: Vec<Term>) -> Box<dyn Query> {
    match <[Term; 1]>::try_from(terms) {
        Ok([term]) => term_query(term),
        Err(terms) => Box::new(PhraseQuery::new(terms)),
    }
}

fn all_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match <[Box<dyn Query>; 1]>::try_from(queries) {
        Ok([query]) => query,
        Err(queries) if queries.is_empty() => Box::new(AllQuery),
        Err(queries) => Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Must, q)).collect())),
    }
}

fn any_of(queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match <[Box<dyn Query>; 1]>::try_from(queries) {
        Ok([query]) => query,
        Err(queries) => Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect())),
    }
}

/// The query of a URL pattern on one URL column (`url` or `page_url`), matched
/// ASCII-case-insensitively against the whole URL:
/// - with `*`: a glob, `*` standing for any text (`*artist-name*` is a substring);
/// - without: a prefix; a prefix without a scheme (`www.artstation.com/x`) also matches after
///   `http://` and `https://`.
///
/// Answered from the column's URL keys (`pairscope_index::url_key`: the URL up to its second
/// directory, a prefix of it), terms with postings: the keys starting with a prefix are a range
/// of the sorted term dictionary, so a block costs O(log keys + matches), not a pass over its
/// rows. A URL whose key starts with a prefix matches it; one whose key is a shorter prefix of
/// the pattern, and every candidate of a glob, is checked against the URL in the block's
/// parquet file.
pub(crate) fn url_pattern(column: &'static str, pattern: &str, rows: &RowAccess) -> Result<Box<dyn Query>> {
    Ok(Box::new(UrlPatternQuery::new(column, pattern, rows)?))
}

impl UrlPatternQuery {
    /// The query of `pattern` over URL column `column` (see [`url_pattern`]).
    pub(crate) fn new(column: &'static str, pattern: &str, rows: &RowAccess) -> Result<UrlPatternQuery> {
        let key_column = match column {
            "url" => "url_key",
            "page_url" => "page_url_key",
            _ => return Err(QueryError::usage(format!("{column} is not a URL column"))),
        };
        let lowered = pattern.trim().to_ascii_lowercase();
        if lowered.trim_matches('*').is_empty() {
            return Err(QueryError::usage("the URL pattern has nothing to match besides '*'"));
        }
        let matcher = if let Some(star) = lowered.find('*') {
            let regex = lowered.split('*').map(regex_syntax::escape).collect::<Vec<_>>().join(".*");
            let regex = regex::bytes::RegexBuilder::new(&format!("^(?s:{regex})$"))
                .size_limit(1 << 20)
                .build()
                // Its parts are escaped, so the one error left is the size limit (and the regex's
                // own text of other errors would quote the pattern).
                .map_err(|_| QueryError::usage("the URL pattern is too complex: its matcher would exceed 1 MiB"))?;
            let literal = lowered.as_bytes()[..star].to_vec();
            UrlMatcher::Glob { literal, regex }
        } else if lowered.contains("://") {
            UrlMatcher::Prefixes(vec![lowered.into_bytes()])
        } else {
            UrlMatcher::Prefixes(
                ["", "http://", "https://"].iter().map(|scheme| format!("{scheme}{lowered}").into_bytes()).collect(),
            )
        };
        Ok(UrlPatternQuery { column, key_column, matcher: Arc::new(matcher), rows: rows.clone() })
    }

    /// How many documents of `reader` match, if the key dictionary says it alone: the pattern
    /// is prefixes (no '*'), none a prefix of another (so their ranges of keys are disjoint),
    /// and the block has no key shorter than a prefix that could start it (whose URLs the
    /// scorer checks one by one). Then the documents of every key in the prefixes' ranges
    /// match and no other does: the count is their document frequencies' sum, one lookup a
    /// key, whatever the rows.
    pub(crate) fn known_count(&self, reader: &SegmentReader) -> pairscope_index::tantivy::Result<Option<u64>> {
        let UrlMatcher::Prefixes(prefixes) = &*self.matcher else { return Ok(None) };
        let nested = |(i, a): (usize, &Vec<u8>)| prefixes.iter().enumerate().any(|(j, b)| i != j && b.starts_with(a));
        if prefixes.iter().enumerate().any(nested) {
            return Ok(None);
        }
        let keys = reader.inverted_index(reader.schema().get_field(self.key_column)?)?;
        let mut rows = 0u64;
        for start in prefixes {
            for shorter in shorter_keys(start) {
                if keys.terms().get(shorter)?.is_some() {
                    return Ok(None);
                }
            }
            let mut range = keys_starting(&keys, start)?;
            while range.advance() {
                rows += u64::from(range.value().doc_freq);
            }
        }
        Ok(Some(rows))
    }
}

/// The documents whose keyword column (`host`, `language` …) is exactly `value`.
fn keyword_equals(column: &'static str, value: String) -> Box<dyn Query> {
    Box::new(KeywordQuery { column, value: value.into_bytes() })
}

/// Documents whose keyword column equals a value, answered from the fast column alone: the
/// value's ordinal in the column's sorted dictionary, then one pass over the bit-packed
/// ordinals. The columns have no postings: a term per document and keyword cost a fifth of
/// ingest time.
#[derive(Debug, Clone)]
struct KeywordQuery {
    column: &'static str,
    value: Vec<u8>,
}

impl Query for KeywordQuery {
    fn weight(&self, _: EnableScoring<'_>) -> pairscope_index::tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for KeywordQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> pairscope_index::tantivy::Result<Box<dyn Scorer>> {
        let Some(column) = reader.fast_fields().str(self.column)? else { return Ok(Box::new(EmptyScorer)) };
        let mut docs = BitSet::with_max_value(reader.max_doc());
        if let Some(ord) = column.dictionary().term_ord(&self.value)? {
            for doc in docs_with_ords(&column, ord..=ord, reader.max_doc()) {
                docs.insert(doc);
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> pairscope_index::tantivy::Result<Explanation> {
        explain_match(self, reader, doc, "keyword")
    }
}

/// The documents whose value of `column` has an ordinal in `ords`, ascending.
fn docs_with_ords(column: &StrColumn, ords: std::ops::RangeInclusive<u64>, max_doc: DocId) -> Vec<DocId> {
    let mut hits: Vec<DocId> = Vec::new();
    column.ords().get_docids_for_value_range(ords, 0..max_doc, &mut hits);
    hits
}

fn explain_match(
    weight: &dyn Weight,
    reader: &SegmentReader,
    doc: DocId,
    what: &'static str,
) -> pairscope_index::tantivy::Result<Explanation> {
    let mut scorer = weight.scorer(reader, 1.0)?;
    if scorer.seek(doc) != doc {
        return Err(pairscope_index::tantivy::TantivyError::InvalidArgument(format!("document {doc} does not match")));
    }
    Ok(Explanation::new(what, 1.0))
}

#[derive(Debug)]
enum UrlMatcher {
    /// URLs starting with any of these.
    Prefixes(Vec<Vec<u8>>),
    /// URLs the regex matches; all of them start with `literal`.
    Glob { literal: Vec<u8>, regex: regex::bytes::Regex },
}

impl UrlMatcher {
    /// Whether a lower-cased URL matches.
    fn matches(&self, url: &[u8]) -> bool {
        match self {
            UrlMatcher::Prefixes(prefixes) => prefixes.iter().any(|p| url.starts_with(p)),
            UrlMatcher::Glob { regex, .. } => regex.is_match(url),
        }
    }
}

#[derive(Clone)]
pub(crate) struct UrlPatternQuery {
    column: &'static str,
    key_column: &'static str,
    matcher: Arc<UrlMatcher>,
    rows: RowAccess,
}

impl std::fmt::Debug for UrlPatternQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlPatternQuery").field("column", &self.column).field("matcher", &self.matcher).finish()
    }
}

impl Query for UrlPatternQuery {
    fn weight(&self, _: EnableScoring<'_>) -> pairscope_index::tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for UrlPatternQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> pairscope_index::tantivy::Result<Box<dyn Scorer>> {
        let field = reader.schema().get_field(self.key_column)?;
        let keys = reader.inverted_index(field)?;
        let max_doc = reader.max_doc();
        // Every candidate, and those whose URL must be checked (the others match by their key).
        let mut candidates = BitSet::with_max_value(max_doc);
        let mut unsure = BitSet::with_max_value(max_doc);
        let (starts, checked): (&[Vec<u8>], bool) = match &*self.matcher {
            UrlMatcher::Prefixes(prefixes) => (prefixes, false),
            UrlMatcher::Glob { literal, .. } => (std::slice::from_ref(literal), true),
        };
        // The documents of one key: its postings.
        let mut add = |key: &TermInfo, check: bool| -> std::io::Result<()> {
            let mut postings = keys.read_postings_from_terminfo(key, IndexRecordOption::Basic)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                candidates.insert(doc);
                if check {
                    unsure.insert(doc);
                }
                doc = postings.advance();
            }
            Ok(())
        };
        for start in starts {
            let mut range = keys_starting(&keys, start)?;
            while range.advance() {
                add(range.value(), checked)?;
            }
            for shorter in shorter_keys(start) {
                if let Some(key) = keys.terms().get(shorter)? {
                    add(&key, true)?;
                }
            }
        }
        let rows = segment_rows(&self.rows, reader)?;
        let check = RowCheck::Url { column: self.column, matcher: self.matcher.clone(), unsure };
        Ok(Box::new(VerifiedScorer::new(
            Box::new(ConstScorer::new(BitSetDocSet::from(candidates), boost)),
            rows,
            self.rows.failure.clone(),
            max_doc,
            check,
        )))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> pairscope_index::tantivy::Result<Explanation> {
        explain_match(self, reader, doc, "URL pattern")
    }
}

/// The keys starting with `start`: a range of the sorted term dictionary.
fn keys_starting<'a>(keys: &'a InvertedIndexReader, start: &[u8]) -> std::io::Result<TermStreamer<'a>> {
    let range = keys.terms().range().ge(start);
    match successor(start) {
        Some(next) => range.lt(next),
        None => range,
    }
    .into_stream()
}

/// The strings a URL key shorter than `start` and a prefix of it can be: `start` up to each
/// of its '/' (keys end at a directory), and up to the key length cap. A URL with such a key
/// may start with `start` or not: its URL is checked.
fn shorter_keys(start: &[u8]) -> impl Iterator<Item = &[u8]> {
    let cap = pairscope_index::MAX_URL_KEY_BYTES;
    let at_slashes = start.iter().enumerate().filter(|&(_, &b)| b == b'/').map(|(i, _)| i + 1);
    // A key cut by the cap ends at the last character boundary at or before it.
    let at_cap = (start.len() > cap).then(|| (cap.saturating_sub(3)..=cap).rev()).into_iter().flatten();
    at_slashes.filter(|&end| end < start.len()).chain(at_cap).map(move |end| &start[..end])
}

/// The least byte string greater than every string starting with `prefix`, if any.
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut next = prefix.to_vec();
    while let Some(last) = next.pop() {
        if last < u8::MAX {
            next.push(last + 1);
            return Some(next);
        }
    }
    None
}

/// The parquet rows of `reader`'s block, with the file's metadata read: a file that cannot
/// be opened fails the call here, before any document is checked. The error itself is kept in
/// the call's [`ReadFailure`] (tantivy's error type cannot carry it), where the scan finds it.
fn segment_rows(access: &RowAccess, reader: &SegmentReader) -> pairscope_index::tantivy::Result<Arc<BlockRows>> {
    let internal = pairscope_index::tantivy::TantivyError::InternalError;
    let rows =
        access.rows.get(&reader.segment_id()).ok_or_else(|| internal("a segment without its parquet rows".into()))?;
    if let Err(e) = rows.footer() {
        access.failure.record(e);
        return Err(internal("its block file cannot be read".into()));
    }
    Ok(rows.clone())
}

/// Candidates checked against the caption in the block's parquet file: keeps the documents
/// whose caption's canonical form contains `needle` (the substring semantics of
/// substring-script names).
pub(crate) struct VerifiedQuery {
    inner: Box<dyn Query>,
    needle: Arc<str>,
    fold_accents: bool,
    rows: RowAccess,
}

/// Rows a [`VerifiedScorer`] reads at once.
const VERIFY_CHUNK: usize = 1024;

impl std::fmt::Debug for VerifiedQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedQuery").field("inner", &self.inner).field("needle", &self.needle).finish()
    }
}

impl Clone for VerifiedQuery {
    fn clone(&self) -> Self {
        VerifiedQuery {
            inner: self.inner.box_clone(),
            needle: self.needle.clone(),
            fold_accents: self.fold_accents,
            rows: self.rows.clone(),
        }
    }
}

impl Query for VerifiedQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> pairscope_index::tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(VerifiedWeight {
            inner: self.inner.weight(enable_scoring)?,
            needle: self.needle.clone(),
            fold_accents: self.fold_accents,
            rows: self.rows.clone(),
        }))
    }
}

struct VerifiedWeight {
    inner: Box<dyn Weight>,
    needle: Arc<str>,
    fold_accents: bool,
    rows: RowAccess,
}

impl Weight for VerifiedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> pairscope_index::tantivy::Result<Box<dyn Scorer>> {
        let rows = segment_rows(&self.rows, reader)?;
        let check =
            RowCheck::CaptionContains { normalizer: Normalizer::new(self.fold_accents), needle: self.needle.clone() };
        let inner = self.inner.scorer(reader, boost)?;
        Ok(Box::new(VerifiedScorer::new(inner, rows, self.rows.failure.clone(), reader.max_doc(), check)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> pairscope_index::tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

/// What a candidate must satisfy, checked against its row of the block's parquet file.
enum RowCheck {
    /// The caption's canonical form contains `needle`.
    CaptionContains { normalizer: Normalizer, needle: Arc<str> },
    /// The lower-cased URL of `column` matches; only the documents in `unsure` are checked
    /// (the others matched by their URL key).
    Url { column: &'static str, matcher: Arc<UrlMatcher>, unsure: BitSet },
}

impl RowCheck {
    fn column(&self) -> &'static str {
        match self {
            RowCheck::CaptionContains { .. } => "caption",
            RowCheck::Url { column, .. } => column,
        }
    }

    /// Whether `doc` needs its row read at all.
    fn needs_row(&self, doc: DocId) -> bool {
        match self {
            RowCheck::CaptionContains { .. } => true,
            RowCheck::Url { unsure, .. } => unsure.contains(doc),
        }
    }

    fn passes(&mut self, value: &str) -> bool {
        match self {
            RowCheck::CaptionContains { normalizer, needle } => normalizer.normalize(value).contains(&**needle),
            RowCheck::Url { matcher, .. } => matcher.matches(value.to_ascii_lowercase().as_bytes()),
        }
    }
}

/// The documents of `inner` that pass a [`RowCheck`]. Rows are read [`VERIFY_CHUNK`] at a
/// time, as the scorer moves forward. Rows that cannot be read end it: the error goes to
/// `failure` and the scorer has no more documents (the scan then fails with the error).
struct VerifiedScorer {
    inner: Box<dyn Scorer>,
    rows: Arc<BlockRows>,
    failure: Arc<ReadFailure>,
    /// Set when rows could not be read: no more documents.
    failed: bool,
    max_doc: usize,
    /// The chunk of values read last: its first row, and the values.
    chunk: Option<(usize, StringArray)>,
    check: RowCheck,
}

impl VerifiedScorer {
    fn new(
        inner: Box<dyn Scorer>,
        rows: Arc<BlockRows>,
        failure: Arc<ReadFailure>,
        max_doc: DocId,
        check: RowCheck,
    ) -> VerifiedScorer {
        let mut scorer =
            VerifiedScorer { inner, rows, failure, failed: false, max_doc: max_doc as usize, chunk: None, check };
        scorer.settle();
        scorer
    }

    /// Whether `doc` passes the check; `None` when its rows cannot be read (recorded).
    fn matches(&mut self, doc: DocId) -> Option<bool> {
        if !self.check.needs_row(doc) {
            return Some(true);
        }
        let doc = doc as usize;
        let start = doc - doc % VERIFY_CHUNK;
        let column = self.check.column();
        let values = match &self.chunk {
            Some((first, values)) if *first == start => values,
            _ => {
                let positions: Vec<usize> = (start..(start + VERIFY_CHUNK).min(self.max_doc)).collect();
                match self.rows.read(&positions, Some(&[column])).and_then(|b| self.rows.strings(&b, column)) {
                    Ok(values) => &self.chunk.insert((start, values)).1,
                    Err(e) => {
                        self.failure.record(e);
                        return None;
                    }
                }
            }
        };
        Some(values.is_valid(doc - start) && self.check.passes(values.value(doc - start)))
    }

    /// Moves forward from the inner scorer's document to the first verified one.
    fn settle(&mut self) -> DocId {
        let mut doc = self.inner.doc();
        while doc != TERMINATED {
            match self.matches(doc) {
                Some(true) => break,
                Some(false) => doc = self.inner.advance(),
                None => {
                    self.failed = true;
                    return TERMINATED;
                }
            }
        }
        doc
    }
}

impl DocSet for VerifiedScorer {
    fn advance(&mut self) -> DocId {
        if self.failed {
            return TERMINATED;
        }
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.failed {
            return TERMINATED;
        }
        self.inner.seek(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        if self.failed { TERMINATED } else { self.inner.doc() }
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for VerifiedScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
