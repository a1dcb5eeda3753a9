//! The search form: its fields as read from a query string (the whole state of a search page
//! is its URL), the [`Selection`] and EXPR they stand for, and the URLs of other pages of it.
//!
//! The EXPR is built from typed values only: numbers the server formats itself, and text as
//! quoted string literals ([`string_literal`]). A request's text never becomes EXPR syntax.

use pairscope_query::{SearchRequest, Selection, SortBy};
use url::form_urlencoded;

use crate::ServerConfig;
use crate::error::Failure;

/// A `min`–`max` condition on a score.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Every field of the search form. Empty text means "no condition".
#[derive(Debug, Clone, PartialEq)]
pub struct SearchForm {
    /// The QUERY.
    pub q: String,
    /// A URL pattern.
    pub url: String,
    pub host: String,
    /// The registrable domain (`pinimg.com`), which covers every host under it.
    pub domain: String,
    pub language: String,
    pub aesthetic: Range,
    pub punsafe: Range,
    pub pwatermark: Range,
    pub similarity: Range,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    /// An entity of `names` whose aliases the captions must mention.
    pub mention: String,
    /// A built-in list spec, or empty for both built-in lists.
    pub names: String,
    pub fold_accents: bool,
    pub sort: SortBy,
    pub ascending: bool,
    pub limit: usize,
    pub after: Option<String>,
}

/// The score columns with a min–max pair of fields, in form order.
pub const SCORES: [&str; 4] = ["aesthetic", "punsafe", "pwatermark", "similarity"];

/// The keyword columns a search can be restricted to one value of (a facet link sets one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    Host,
    Domain,
    Language,
}

impl Term {
    pub fn column(self) -> &'static str {
        match self {
            Term::Host => "host",
            Term::Domain => "domain",
            Term::Language => "language",
        }
    }
}

impl SearchForm {
    pub fn new(page_size: usize) -> SearchForm {
        SearchForm {
            q: String::new(),
            url: String::new(),
            host: String::new(),
            domain: String::new(),
            language: String::new(),
            aesthetic: Range::default(),
            punsafe: Range::default(),
            pwatermark: Range::default(),
            similarity: Range::default(),
            min_width: None,
            min_height: None,
            mention: String::new(),
            names: String::new(),
            fold_accents: false,
            sort: SortBy::Relevance,
            ascending: false,
            limit: page_size,
            after: None,
        }
    }

    /// Reads a query string. Unknown fields are ignored; a page size above the server's limit
    /// is lowered to it. Errors name the field, never its value.
    pub fn parse(query: Option<&str>, config: &ServerConfig) -> Result<SearchForm, Failure> {
        let mut form = SearchForm::new(config.page_size);
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "q" => form.q = value.to_string(),
                "url" => form.url = value.to_string(),
                "host" => form.host = value.to_string(),
                "domain" => form.domain = value.to_string(),
                "language" => form.language = value.to_string(),
                "mention" => form.mention = value.to_string(),
                "names" => {
                    if !crate::app::LISTS.contains(&value) {
                        return Err(Failure::bad("names must be builtin:artists or builtin:characters."));
                    }
                    form.names = value.to_string();
                }
                "fold_accents" => form.fold_accents = flag(value, "fold_accents")?,
                "min_width" => form.min_width = Some(whole(value, "min_width")?),
                "min_height" => form.min_height = Some(whole(value, "min_height")?),
                "sort" => {
                    form.sort = SortBy::parse(value).ok_or_else(|| {
                        Failure::bad(
                            "sort must be one of relevance, aesthetic, similarity, width, height, punsafe, pwatermark.",
                        )
                    })?
                }
                "order" => {
                    form.ascending = match value {
                        "asc" => true,
                        "desc" => false,
                        _ => return Err(Failure::bad("order must be asc or desc.")),
                    }
                }
                "limit" => {
                    let limit: usize = whole(value, "limit")? as usize;
                    form.limit = limit.clamp(1, config.max_page_size);
                }
                "after" => form.after = Some(value.to_string()),
                other => {
                    for column in SCORES {
                        if other.strip_prefix(column) == Some("_min") {
                            form.range_mut(column).min = Some(number(value, other)?);
                        } else if other.strip_prefix(column) == Some("_max") {
                            form.range_mut(column).max = Some(number(value, other)?);
                        }
                    }
                }
            }
        }
        Ok(form)
    }

    /// The range of one of [`SCORES`].
    pub fn range(&self, column: &str) -> Range {
        match column {
            "aesthetic" => self.aesthetic,
            "punsafe" => self.punsafe,
            "pwatermark" => self.pwatermark,
            _ => self.similarity,
        }
    }

    fn range_mut(&mut self, column: &str) -> &mut Range {
        match column {
            "aesthetic" => &mut self.aesthetic,
            "punsafe" => &mut self.punsafe,
            "pwatermark" => &mut self.pwatermark,
            _ => &mut self.similarity,
        }
    }

    pub fn term(&self, term: Term) -> &str {
        match term {
            Term::Host => &self.host,
            Term::Domain => &self.domain,
            Term::Language => &self.language,
        }
    }

    /// The EXPR the filter fields stand for, or `None` without any.
    pub fn filter(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        for column in SCORES {
            let range = self.range(column);
            if let Some(min) = range.min {
                parts.push(format!("{column} >= {min}"));
            }
            if let Some(max) = range.max {
                parts.push(format!("{column} <= {max}"));
            }
        }
        if let Some(width) = self.min_width {
            parts.push(format!("width >= {width}"));
        }
        if let Some(height) = self.min_height {
            parts.push(format!("height >= {height}"));
        }
        for term in [Term::Host, Term::Domain, Term::Language] {
            let value = self.term(term);
            if !value.is_empty() {
                parts.push(format!("{} = {}", term.column(), string_literal(value)));
            }
        }
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }

    /// The selection, given the aliases `mention` stands for.
    pub fn selection(&self, aliases: Vec<String>) -> Selection {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Selection {
            query: text(&self.q),
            filter: self.filter(),
            url: text(&self.url),
            aliases,
            fold_accents: self.fold_accents,
        }
    }

    pub fn request(&self, aliases: Vec<String>) -> SearchRequest {
        SearchRequest {
            selection: self.selection(aliases),
            sort: self.sort,
            descending: !self.ascending,
            limit: self.limit,
            after: self.after.clone(),
            // The page shows how many rows match.
            count_total: true,
        }
    }

    /// The fields that differ from an empty form, as a query string (`""` for none).
    pub fn query_string(&self, config: &ServerConfig) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let mut text = |key: &str, value: &str| {
            if !value.is_empty() {
                out.append_pair(key, value);
            }
        };
        text("q", &self.q);
        text("url", &self.url);
        text("mention", &self.mention);
        text("names", &self.names);
        for column in SCORES {
            let range = self.range(column);
            text(&format!("{column}_min"), &range.min.map(|v| v.to_string()).unwrap_or_default());
            text(&format!("{column}_max"), &range.max.map(|v| v.to_string()).unwrap_or_default());
        }
        text("min_width", &self.min_width.map(|v| v.to_string()).unwrap_or_default());
        text("min_height", &self.min_height.map(|v| v.to_string()).unwrap_or_default());
        text("host", &self.host);
        text("domain", &self.domain);
        text("language", &self.language);
        if self.fold_accents {
            text("fold_accents", "1");
        }
        if self.sort != SortBy::Relevance {
            text("sort", self.sort.name());
        }
        if self.ascending {
            text("order", "asc");
        }
        if self.limit != config.page_size {
            text("limit", &self.limit.to_string());
        }
        text("after", self.after.as_deref().unwrap_or(""));
        out.finish()
    }

    /// What the selection depends on, as text: the query string less order and paging.
    pub fn selection_key(&self, config: &ServerConfig) -> String {
        SearchForm { sort: SortBy::Relevance, ascending: false, limit: config.page_size, after: None, ..self.clone() }
            .query_string(config)
    }

    /// `path` with this form's query string.
    pub fn href(&self, path: &str, config: &ServerConfig) -> String {
        let query = self.query_string(config);
        if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
    }

    /// This search's first page with the `term` filter set to `value` (empty: any value).
    pub fn with_term(&self, term: Term, value: &str) -> SearchForm {
        let mut form = SearchForm { after: None, ..self.clone() };
        *match term {
            Term::Host => &mut form.host,
            Term::Domain => &mut form.domain,
            Term::Language => &mut form.language,
        } = value.to_string();
        form
    }

    /// The page after the cursor `next`.
    pub fn with_after(&self, next: &str) -> SearchForm {
        SearchForm { after: Some(next.to_string()), ..self.clone() }
    }
}

/// `text` as a string literal of the filter language: in single quotes, each quote doubled.
pub fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn number(value: &str, field: &str) -> Result<f64, Failure> {
    match value.parse::<f64>() {
        // Display of a finite f64 is plain digits (never an exponent, NaN or inf): an EXPR number.
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Failure::BadRequest(format!("{} must be a number.", field_name(field)))),
    }
}

fn whole(value: &str, field: &str) -> Result<u32, Failure> {
    value.parse::<u32>().map_err(|_| Failure::BadRequest(format!("{} must be a whole number.", field_name(field))))
}

fn flag(value: &str, field: &str) -> Result<bool, Failure> {
    match value {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(Failure::BadRequest(format!("{} must be 1 or 0.", field_name(field)))),
    }
}

/// The server's own spelling of a field's name (never the request's bytes).
fn field_name(field: &str) -> &'static str {
    const FIELDS: [&str; 11] = [
        "aesthetic_min",
        "aesthetic_max",
        "punsafe_min",
        "punsafe_max",
        "pwatermark_min",
        "pwatermark_max",
        "similarity_min",
        "similarity_max",
        "min_width",
        "min_height",
        "limit",
    ];
    FIELDS.into_iter().chain(["fold_accents"]).find(|f| *f == field).unwrap_or("a field")
}

#[cfg(test)]
mod tests {
    use pairscope_expr::{Expr, Literal, Value};

    use super::*;

    fn config() -> ServerConfig {
        ServerConfig::new("unused".into())
    }

    #[test]
    fn text_fields_become_string_literals_that_read_back_as_the_text() {
        for hostile in ["a' OR punsafe >= 0 OR host = 'b", "''", "x'); --", "\"quoted\" name", "日本'語\n\0"] {
            let form = SearchForm { host: hostile.into(), language: hostile.into(), ..SearchForm::new(10) };
            let expr = pairscope_expr::parse(&form.filter().unwrap()).unwrap();
            let Expr::And(parts) = expr else { panic!("{hostile}: not one AND of two tests") };
            assert_eq!(parts.len(), 2, "{hostile}");
            for part in parts {
                let Expr::Compare { value: Value { literal: Literal::Text(text), .. }, .. } = part else {
                    panic!("{hostile}: {part:?}")
                };
                assert_eq!(text, hostile);
            }
        }
    }

    #[test]
    fn numbers_are_checked_and_written_as_expr_numbers() {
        let config = config();
        let form = SearchForm::parse(
            Some("aesthetic_min=6.5&punsafe_max=1e-7&pwatermark_max=1e300&min_width=1024&limit=99999"),
            &config,
        )
        .unwrap();
        assert_eq!(form.limit, config.max_page_size);
        let filter = form.filter().unwrap();
        assert!(pairscope_expr::parse(&filter).is_ok(), "{filter}");
        assert!(filter.starts_with("aesthetic >= 6.5 AND punsafe <= 0.0000001 AND pwatermark <= 1000"), "{filter}");
        for bad in ["aesthetic_min=NaN", "punsafe_max=inf", "aesthetic_min=6)+OR+(1", "min_width=-1", "sort=nope"] {
            let Err(Failure::BadRequest(message)) = SearchForm::parse(Some(bad), &config) else { panic!("{bad}") };
            assert!(!message.contains("NaN") && !message.contains("inf") && !message.contains("nope"), "{message}");
        }
    }

    #[test]
    fn the_query_string_round_trips() {
        let config = config();
        let text = "q=%22a+b%22+c&url=*x*&mention=Hokusai&names=builtin%3Aartists&aesthetic_min=6&punsafe_max=0.5\
                    &similarity_min=0.3&min_height=512&host=i.pinimg.com&domain=pinimg.com&language=en&fold_accents=1&sort=width&order=asc&limit=7&after=v1.x";
        let form = SearchForm::parse(Some(text), &config).unwrap();
        assert_eq!(SearchForm::parse(Some(&form.query_string(&config)), &config).unwrap(), form);
        assert_eq!(SearchForm::new(config.page_size).query_string(&config), "");
    }
}
