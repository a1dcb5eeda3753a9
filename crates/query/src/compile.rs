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
//!   stored caption ([`VerifiedQuery`]), so the result is exact too.
//! - With accent folding, each of these on `caption` OR `caption_folded`, with the query folded.

use std::sync::Arc;

use pairscope_index::IndexFields;
use pairscope_index::tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, EnableScoring, Explanation, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    RegexQuery, Scorer, TermQuery, TermSetQuery, Weight,
};
use pairscope_index::tantivy::schema::{Field, IndexRecordOption, Value};
use pairscope_index::tantivy::{DocId, DocSet, Score, Searcher, SegmentReader, TERMINATED, TantivyDocument, Term};
use pairscope_index::units::{UnitTerm, index_units};
use pairscope_text::{Normalizer, has_substring_script};

use crate::error::{QueryError, Result};
use crate::parse::QueryAst;

/// Most distinct index terms one `prefix*` may stand for (over all blocks); a shorter prefix
/// that matches more is refused rather than truncated.
pub const MAX_PREFIX_TERMS: usize = 20_000;

pub(crate) struct Compiler<'a> {
    pub fields: &'a IndexFields,
    pub searchers: &'a [&'a Searcher],
    pub fold_accents: bool,
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
                        clauses.push((Occur::MustNot, self.compile(inner)?));
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
            QueryAst::Not(inner) => {
                Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery)), (Occur::MustNot, self.compile(inner)?)]))
            }
        })
    }

    fn text(&self, text: &str, prefix: bool, offset: usize) -> Result<Box<dyn Query>> {
        let canonical = pairscope_text::normalize(text, self.fold_accents);
        if canonical.is_empty() {
            return Err(QueryError::usage(format!(
                "{text:?} (at byte {offset} of the query) has no letters or digits to search for"
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
            let terms: Vec<Term> = canonical.split(' ').map(|t| Term::from_field_text(field, t)).collect();
            return if prefix { self.prefix(field, terms, canonical) } else { Ok(term_or_phrase(terms)) };
        }
        // Necessary conditions: each substring-script run as its bigram phrase, and each token
        // strictly inside the text as a whole token (the first and last may be cut in a match).
        let mut conditions: Vec<Box<dyn Query>> = Vec::new();
        let tokens: Vec<&str> = canonical.split(' ').collect();
        let mut run: Vec<Term> = Vec::new();
        let mut term = String::new();
        let flush = |run: &mut Vec<Term>, conditions: &mut Vec<Box<dyn Query>>| {
            if !run.is_empty() {
                conditions.push(term_or_phrase(std::mem::take(run)));
            }
        };
        for (i, token) in tokens.iter().enumerate() {
            let interior = i > 0 && i + 1 < tokens.len();
            let mut single_char_run: Option<Term> = None;
            index_units(token, |unit| {
                unit.term.write_term(&mut term);
                match unit.term {
                    UnitTerm::Token(_) if interior => conditions.push(Box::new(TermQuery::new(
                        Term::from_field_text(field, &term),
                        IndexRecordOption::WithFreqs,
                    ))),
                    UnitTerm::Token(_) | UnitTerm::Partial(_) => {
                        flush(&mut run, &mut conditions);
                        if let Some(t) = single_char_run.take() {
                            conditions.push(term_or_phrase(vec![t]));
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
                conditions.push(term_or_phrase(vec![t]));
            }
        }
        let exact_by_index = tokens.len() == 1 && tokens[0].chars().all(pairscope_text::is_substring_script_char);
        let candidates = all_of(conditions);
        if exact_by_index {
            return Ok(candidates);
        }
        Ok(Box::new(VerifiedQuery {
            inner: candidates,
            needle: Arc::from(canonical),
            fold_accents: self.fold_accents,
            stored_caption: self.fields.caption,
        }))
    }

    /// `terms` with the last one a prefix; refused when the prefix stands for too many terms.
    fn prefix(&self, field: Field, mut terms: Vec<Term>, canonical: &str) -> Result<Box<dyn Query>> {
        let last = terms.pop().expect("a canonical form has a token");
        let prefix = last.value().as_str().unwrap_or_default().to_string();
        let mut expansions: Vec<Term> = Vec::new();
        for searcher in self.searchers {
            for segment in searcher.segment_readers() {
                let dictionary = segment.inverted_index(field).map_err(QueryError::engine)?;
                let mut stream = dictionary.terms().range().ge(prefix.as_bytes()).into_stream().map_err(QueryError::io)?;
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
                            return Err(too_many(canonical));
                        }
                    }
                }
            }
        }
        expansions.sort();
        expansions.dedup();
        if expansions.len() > MAX_PREFIX_TERMS {
            return Err(too_many(canonical));
        }
        if expansions.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        if terms.is_empty() {
            return Ok(Box::new(TermSetQuery::new(expansions)));
        }
        terms.push(last);
        let mut query = PhrasePrefixQuery::new(terms);
        query.set_max_expansions(MAX_PREFIX_TERMS as u32);
        Ok(Box::new(query))
    }

    fn field(&self, name: &str, value: &str, offset: usize) -> Result<Box<dyn Query>> {
        match name {
            "url" => url_pattern(self.fields.url_key, value),
            "page_url" => url_pattern(self.fields.page_url_key, value),
            _ => {
                let field = self.fields.field(name).ok_or_else(|| {
                    QueryError::usage(format!("unknown field {name:?} at byte {offset} of the query"))
                })?;
                // Hosts and domains are stored lower-case; other values exactly as given.
                let value = if matches!(name, "host" | "domain") { value.to_ascii_lowercase() } else { value.to_string() };
                Ok(Box::new(TermQuery::new(Term::from_field_text(field, &value), IndexRecordOption::Basic)))
            }
        }
    }
}

fn too_many(canonical: &str) -> QueryError {
    QueryError::usage(format!(
        "the prefix {canonical:?}* matches more than {MAX_PREFIX_TERMS} distinct words; make it longer"
    ))
}

fn term_or_phrase(mut terms: Vec<Term>) -> Box<dyn Query> {
    if terms.len() == 1 {
        Box::new(TermQuery::new(terms.pop().expect("one term"), IndexRecordOption::WithFreqs))
    } else {
        Box::new(PhraseQuery::new(terms))
    }
}

fn all_of(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    match queries.len() {
        0 => Box::new(AllQuery),
        1 => queries.pop().expect("one query"),
        _ => Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Must, q)).collect())),
    }
}

fn any_of(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        return queries.pop().expect("one query");
    }
    Box::new(BooleanQuery::new(queries.into_iter().map(|q| (Occur::Should, q)).collect()))
}

/// The query of a URL pattern on one URL key field (`url_key` or `page_url_key`), matched
/// ASCII-case-insensitively against the whole URL:
/// - with `*`: a glob, `*` standing for any text (`*artist-name*` is a substring);
/// - without: a prefix; a prefix without a scheme (`www.artstation.com/x`) also matches after
///   `http://` and `https://`.
pub fn url_pattern(field: Field, pattern: &str) -> Result<Box<dyn Query>> {
    let lowered = pattern.trim().to_ascii_lowercase();
    if lowered.trim_matches('*').is_empty() {
        return Err(QueryError::usage(format!("the URL pattern {pattern:?} has nothing to match")));
    }
    let regex = if lowered.contains('*') {
        lowered.split('*').map(regex_syntax::escape).collect::<Vec<_>>().join(".*")
    } else if lowered.contains("://") {
        format!("{}.*", regex_syntax::escape(&lowered))
    } else {
        format!("(https?://)?{}.*", regex_syntax::escape(&lowered))
    };
    let query = RegexQuery::from_pattern(&regex, field)
        .map_err(|e| QueryError::usage(format!("the URL pattern {pattern:?} is too complex: {e}")))?;
    Ok(Box::new(query))
}

/// Candidates checked against the stored caption: keeps the documents whose caption's
/// canonical form contains `needle` (the substring semantics of substring-script names).
#[derive(Debug)]
pub(crate) struct VerifiedQuery {
    inner: Box<dyn Query>,
    needle: Arc<str>,
    fold_accents: bool,
    stored_caption: Field,
}

impl Clone for VerifiedQuery {
    fn clone(&self) -> Self {
        VerifiedQuery {
            inner: self.inner.box_clone(),
            needle: self.needle.clone(),
            fold_accents: self.fold_accents,
            stored_caption: self.stored_caption,
        }
    }
}

impl Query for VerifiedQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> pairscope_index::tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(VerifiedWeight {
            inner: self.inner.weight(enable_scoring)?,
            needle: self.needle.clone(),
            fold_accents: self.fold_accents,
            stored_caption: self.stored_caption,
        }))
    }
}

struct VerifiedWeight {
    inner: Box<dyn Weight>,
    needle: Arc<str>,
    fold_accents: bool,
    stored_caption: Field,
}

impl Weight for VerifiedWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> pairscope_index::tantivy::Result<Box<dyn Scorer>> {
        let mut scorer = VerifiedScorer {
            inner: self.inner.scorer(reader, boost)?,
            store: reader.get_store_reader(8)?,
            normalizer: Normalizer::new(self.fold_accents),
            needle: self.needle.clone(),
            field: self.stored_caption,
        };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> pairscope_index::tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct VerifiedScorer {
    inner: Box<dyn Scorer>,
    store: pairscope_index::tantivy::store::StoreReader,
    normalizer: Normalizer,
    needle: Arc<str>,
    field: Field,
}

impl VerifiedScorer {
    fn matches(&mut self, doc: DocId) -> bool {
        // A caption that cannot be read is not shown as a match; the index is immutable, so
        // this only happens on a damaged file.
        let Ok(stored) = self.store.get::<TantivyDocument>(doc) else { return false };
        let Some(caption) = stored.get_first(self.field).and_then(|v| v.as_str()) else { return false };
        self.normalizer.normalize(caption).contains(&*self.needle)
    }

    /// Moves forward from the inner scorer's document to the first verified one.
    fn settle(&mut self) -> DocId {
        let mut doc = self.inner.doc();
        while doc != TERMINATED && !self.matches(doc) {
            doc = self.inner.advance();
        }
        doc
    }
}

impl DocSet for VerifiedScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.inner.seek(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
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
