//! The search form: its fields as read from a query string (the whole state of a search page
//! is its URL), the [`Selection`] and EXPR they stand for, and the URLs of other pages of it.
//!
//! The EXPR is built from typed values only: numbers the server formats itself, and text as
//! quoted string literals ([`string_literal`]). A request's text never becomes EXPR syntax.

use pairscope_model::{FormField, Registry};
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

/// The value of one column's field (see [`FormField`] for how each is spelled).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Range(Range),
    AtLeast(Option<u32>),
    /// Empty: any value.
    Equals(String),
}

/// One column's field of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnField {
    pub column: &'static str,
    pub value: FieldValue,
}

impl ColumnField {
    /// The field's query-string keys (a range has two: min, then max).
    pub fn keys(&self) -> Vec<String> {
        let column = self.column;
        match self.value {
            FieldValue::Range(_) => vec![format!("{column}_min"), format!("{column}_max")],
            FieldValue::AtLeast(_) => vec![format!("min_{column}")],
            FieldValue::Equals(_) => vec![column.to_string()],
        }
    }
}

/// Every field of the search form. Empty text means "no condition".
#[derive(Debug, Clone, PartialEq)]
pub struct SearchForm {
    /// The QUERY.
    pub q: String,
    /// A URL pattern.
    pub url: String,
    /// A field per column the registry gives a form role, in registry order.
    pub columns: Vec<ColumnField>,
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

impl SearchForm {
    pub fn new(page_size: usize) -> SearchForm {
        SearchForm::new_in(Registry::CANONICAL, page_size)
    }

    /// An empty form with a field per column of `registry` that has a form role.
    pub fn new_in(registry: Registry, page_size: usize) -> SearchForm {
        let columns = registry
            .form_fields()
            .map(|(column, field)| ColumnField {
                column: column.name,
                value: match field {
                    FormField::Range => FieldValue::Range(Range::default()),
                    FormField::AtLeast => FieldValue::AtLeast(None),
                    FormField::Equals => FieldValue::Equals(String::new()),
                },
            })
            .collect();
        SearchForm {
            q: String::new(),
            url: String::new(),
            columns,
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
        SearchForm::parse_in(Registry::CANONICAL, query, config)
    }

    /// [`SearchForm::parse`] with the fields and orders of `registry`.
    pub fn parse_in(registry: Registry, query: Option<&str>, config: &ServerConfig) -> Result<SearchForm, Failure> {
        let mut form = SearchForm::new_in(registry, config.page_size);
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_ref() {
                "q" => form.q = value.to_string(),
                "url" => form.url = value.to_string(),
                "mention" => form.mention = value.to_string(),
                "names" => {
                    if !crate::app::LISTS.contains(&value) {
                        return Err(Failure::bad("names must be builtin:artists or builtin:characters."));
                    }
                    form.names = value.to_string();
                }
                "fold_accents" => form.fold_accents = flag(value, "fold_accents")?,
                "sort" => {
                    form.sort = SortBy::parse_in(registry, value).ok_or_else(|| {
                        Failure::BadRequest(format!("sort must be one of {}.", SortBy::names(registry).join(", ")))
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
                other => form.set_column_field(other, value)?,
            }
        }
        Ok(form)
    }

    /// Sets the column field whose key is `key` (nothing when no field has it).
    fn set_column_field(&mut self, key: &str, value: &str) -> Result<(), Failure> {
        for field in &mut self.columns {
            let keys = field.keys();
            let Some(at) = keys.iter().position(|k| k == key) else { continue };
            // The message names the key as the server spells it, never the request's bytes.
            let name = &keys[at];
            match &mut field.value {
                FieldValue::Range(range) if at == 0 => range.min = Some(number(value, name)?),
                FieldValue::Range(range) => range.max = Some(number(value, name)?),
                FieldValue::AtLeast(least) => *least = Some(whole(value, name)?),
                FieldValue::Equals(text) => *text = value.to_string(),
            }
        }
        Ok(())
    }

    /// The value of `column`'s [`FieldValue::Equals`] field (empty: any value, or no such field).
    pub fn term(&self, column: &str) -> &str {
        self.columns
            .iter()
            .find_map(|f| match &f.value {
                FieldValue::Equals(text) if f.column == column => Some(text.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }

    /// The EXPR the filter fields stand for, or `None` without any.
    pub fn filter(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        for ColumnField { column, value } in &self.columns {
            match value {
                FieldValue::Range(range) => {
                    if let Some(min) = range.min {
                        parts.push(format!("{column} >= {min}"));
                    }
                    if let Some(max) = range.max {
                        parts.push(format!("{column} <= {max}"));
                    }
                }
                FieldValue::AtLeast(Some(least)) => parts.push(format!("{column} >= {least}")),
                FieldValue::AtLeast(None) => {}
                FieldValue::Equals(text) if !text.is_empty() => {
                    parts.push(format!("{column} = {}", string_literal(text)))
                }
                FieldValue::Equals(_) => {}
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
        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for field in &self.columns {
            let keys = field.keys();
            match &field.value {
                FieldValue::Range(range) => {
                    text(&keys[0], &number(range.min));
                    text(&keys[1], &number(range.max));
                }
                FieldValue::AtLeast(least) => text(&keys[0], &least.map(|v| v.to_string()).unwrap_or_default()),
                FieldValue::Equals(value) => text(&keys[0], value),
            }
        }
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

    /// `path` with this form's selection (no order, size or cursor) as its query string.
    pub fn selection_href(&self, path: &str, config: &ServerConfig) -> String {
        let query = self.selection_key(config);
        if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
    }

    /// `path` with this form's query string.
    pub fn href(&self, path: &str, config: &ServerConfig) -> String {
        let query = self.query_string(config);
        if query.is_empty() { path.to_string() } else { format!("{path}?{query}") }
    }

    /// This search's first page with `column`'s one-value field set to `value` (empty: any
    /// value).
    pub fn with_term(&self, column: &str, value: &str) -> SearchForm {
        let mut form = SearchForm { after: None, ..self.clone() };
        for field in &mut form.columns {
            if let (true, FieldValue::Equals(text)) = (field.column == column, &mut field.value) {
                *text = value.to_string();
            }
        }
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

/// `field` is the server's own spelling of the field's name (never the request's bytes).
fn number(value: &str, field: &str) -> Result<f64, Failure> {
    match value.parse::<f64>() {
        // Display of a finite f64 is plain digits (never an exponent, NaN or inf): an EXPR number.
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Failure::BadRequest(format!("{field} must be a number."))),
    }
}

fn whole(value: &str, field: &str) -> Result<u32, Failure> {
    value.parse::<u32>().map_err(|_| Failure::BadRequest(format!("{field} must be a whole number.")))
}

fn flag(value: &str, field: &str) -> Result<bool, Failure> {
    match value {
        "1" | "true" | "on" => Ok(true),
        "0" | "false" | "off" => Ok(false),
        _ => Err(Failure::BadRequest(format!("{field} must be 1 or 0."))),
    }
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
            let form = SearchForm::new(10).with_term("host", hostile).with_term("language", hostile);
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
        for part in ["aesthetic >= 6.5", "punsafe <= 0.0000001", "pwatermark <= 1000", "width >= 1024"] {
            assert!(filter.split(" AND ").any(|p| p.starts_with(part)), "{part}: {filter}");
        }
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
