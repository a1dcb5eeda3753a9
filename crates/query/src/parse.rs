//! The QUERY language: words, "phrases", AND / OR / NOT, prefix*, field:value.
//!
//! ```ebnf
//! query    = or ;
//! or       = and , { "OR" , and } ;
//! and      = unary , { [ "AND" ] , unary } ;          (* juxtaposition is AND *)
//! unary    = ( "NOT" | "-" ) , unary | primary ;
//! primary  = "(" , or , ")" | phrase | field , ":" , ( word | phrase ) | word , [ "*" ] ;
//! phrase   = '"' , { character - '"' } , '"' ;
//! word     = { character - ( space | '(' | ')' | '"' ) } ;   (* not a keyword *)
//! field    = "host" | "domain" | "language" | "license" | "nsfw_label" | "url" | "page_url" ;
//! ```
//!
//! Keywords are upper-case only (`and` is a word). A word or phrase matches by the text
//! normalisation (`pairscope-text`): its tokens as consecutive whole tokens of the caption, or,
//! when it contains substring-script characters (Han, Kana, Thai, …), as a substring of the
//! caption's canonical form. `word*` matches captions with a token starting with the word's
//! (last) token. A `name:` that is not a field is part of the word (`re:zero`).

use std::fmt;

/// Longest query text accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Most words, phrases and field tests in one query.
pub const MAX_CLAUSES: usize = 256;
/// Deepest nesting of parentheses and NOT.
pub const MAX_DEPTH: usize = 32;

/// The fields `field:value` can name.
pub const QUERY_FIELDS: &[&str] = &["host", "domain", "language", "license", "nsfw_label", "url", "page_url"];

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAst {
    /// A word or phrase (raw text, normalised when compiled), optionally a prefix.
    Text {
        /// The word, or the phrase without its quotes (and without the `*` of a prefix).
        text: String,
        /// Written `word*`: matches every word starting with it.
        prefix: bool,
        /// Byte offset of the word or phrase in the query text.
        offset: usize,
    },
    /// `field:value`.
    Field {
        /// One of [`QUERY_FIELDS`], lower-cased.
        field: String,
        /// The value, without its quotes if it was quoted.
        value: String,
        /// Byte offset of the field's name in the query text.
        offset: usize,
    },
    /// Every operand matches (`a b`, `a AND b`): two or more.
    And(Vec<QueryAst>),
    /// Any operand matches (`a OR b`): two or more.
    Or(Vec<QueryAst>),
    /// The operand does not match (`NOT a`, `-a`).
    Not(Box<QueryAst>),
}

/// Where and why a query failed to parse.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseFailure {
    /// Byte offset in the query text of where it fails.
    pub offset: usize,
    /// What is wrong; it never quotes the query.
    pub message: String,
    /// The query text, for the caret rendering.
    pub text: String,
}

impl fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let column = self.text[..self.offset.min(self.text.len())].chars().count() + 1;
        writeln!(f, "{} at column {column}", self.message)?;
        if self.text.len() <= 200 {
            writeln!(f, "  {}", self.text)?;
            write!(f, "  {}^", " ".repeat(column - 1))?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseFailure {}

/// Parses a query. An empty (or all-space) query is `None`: match every row.
pub fn parse_query(text: &str) -> Result<Option<QueryAst>, ParseFailure> {
    let fail = |offset: usize, message: String| ParseFailure { offset, message, text: text.to_string() };
    if text.len() > MAX_QUERY_BYTES {
        // At the character the cap falls in: offsets are where a caret and a column count go.
        let at = text.floor_char_boundary(MAX_QUERY_BYTES);
        return Err(fail(at, format!("the query is longer than {MAX_QUERY_BYTES} bytes")));
    }
    let tokens = lex(text).map_err(|(offset, message)| fail(offset, message))?;
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser { tokens, next: 0, depth: 0, clauses: 0 };
    let ast = parser.or().map_err(|(offset, message)| fail(offset, message))?;
    if let Some(token) = parser.tokens.get(parser.next) {
        let message = match token.kind {
            Kind::Close => "unbalanced ')'".to_string(),
            _ => "unexpected text".to_string(),
        };
        return Err(fail(token.offset, message));
    }
    Ok(Some(ast))
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Open,
    Close,
    And,
    Or,
    Not,
    Phrase(String),
    /// A word; `field` is set for `field:value`.
    Word {
        text: String,
        prefix: bool,
        field: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    offset: usize,
}

type Failure = (usize, String);

fn lex(text: &str) -> Result<Vec<Token>, Failure> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(offset, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let kind = match c {
            '(' => {
                chars.next();
                Kind::Open
            }
            ')' => {
                chars.next();
                Kind::Close
            }
            '"' => {
                chars.next();
                let (phrase, _) = quoted(text, offset, &mut chars)?;
                Kind::Phrase(phrase)
            }
            // A '-' only reaches here at the start of a term: inside a word it is part of it.
            '-' if chars.clone().nth(1).is_some_and(|(_, n)| !n.is_whitespace()) => {
                chars.next();
                Kind::Not
            }
            _ => {
                let mut end = offset;
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"') {
                        break;
                    }
                    end = i + c.len_utf8();
                    chars.next();
                }
                let word = &text[offset..end];
                match word {
                    "AND" => Kind::And,
                    "OR" => Kind::Or,
                    "NOT" => Kind::Not,
                    _ => word_kind(text, offset, word, &mut chars)?,
                }
            }
        };
        tokens.push(Token { kind, offset });
    }
    Ok(tokens)
}

fn quoted(
    text: &str,
    start: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<(String, usize), Failure> {
    for (i, c) in chars.by_ref() {
        if c == '"' {
            return Ok((text[start + 1..i].to_string(), i + 1));
        }
    }
    Err((start, "this '\"' is never closed".to_string()))
}

fn word_kind(
    text: &str,
    offset: usize,
    word: &str,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<Kind, Failure> {
    if let Some((name, value)) = word.split_once(':') {
        let field = name.to_ascii_lowercase();
        if QUERY_FIELDS.contains(&field.as_str()) {
            let quote = if value.is_empty() { chars.next_if(|&(_, c)| c == '"') } else { None };
            let value = match quote {
                Some((start, _)) => quoted(text, start, chars)?.0,
                None => value.to_string(),
            };
            if value.is_empty() {
                return Err((offset + name.len() + 1, format!("expected a value after '{field}:'")));
            }
            return Ok(Kind::Word { text: value, prefix: false, field: Some(field) });
        }
    }
    let (body, prefix) = match word.strip_suffix('*') {
        Some(body) => (body, true),
        None => (word, false),
    };
    if prefix && (body.is_empty() || body.ends_with('*')) {
        return Err((offset, "a prefix needs at least one letter or digit before '*'".to_string()));
    }
    if let Some(star) = body.find('*') {
        return Err((offset + star, "'*' is only allowed at the end of a word".to_string()));
    }
    Ok(Kind::Word { text: body.to_string(), prefix, field: None })
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
    clauses: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.next).map(|t| &t.kind)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.next).or(self.tokens.last()).map_or(0, |t| t.offset)
    }

    fn or(&mut self) -> Result<QueryAst, Failure> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Kind::Or) {
            self.next += 1;
            items.push(self.and()?);
        }
        Ok(one_or(items, QueryAst::Or))
    }

    fn and(&mut self) -> Result<QueryAst, Failure> {
        let mut items = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Kind::And) => {
                    self.next += 1;
                    items.push(self.unary()?);
                }
                Some(Kind::Or | Kind::Close) | None => break,
                Some(_) => items.push(self.unary()?),
            }
        }
        Ok(one_or(items, QueryAst::And))
    }

    fn unary(&mut self) -> Result<QueryAst, Failure> {
        if self.peek() == Some(&Kind::Not) {
            self.next += 1;
            self.descend()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(QueryAst::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn descend(&mut self) -> Result<(), Failure> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err((self.offset(), format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn clause(&mut self, offset: usize) -> Result<(), Failure> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err((offset, format!("the query has more than {MAX_CLAUSES} words, phrases and fields")));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<QueryAst, Failure> {
        let offset = self.offset();
        let Some(token) = self.tokens.get(self.next).cloned() else {
            return Err((offset, "expected a word, a phrase or '(' at the end of the query".to_string()));
        };
        self.next += 1;
        match token.kind {
            Kind::Open => {
                self.descend()?;
                let inner = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Kind::Close) {
                    return Err((token.offset, "this '(' is never closed".to_string()));
                }
                self.next += 1;
                Ok(inner)
            }
            Kind::Phrase(text) => {
                self.clause(token.offset)?;
                Ok(QueryAst::Text { text, prefix: false, offset: token.offset })
            }
            Kind::Word { text, prefix, field: None } => {
                self.clause(token.offset)?;
                Ok(QueryAst::Text { text, prefix, offset: token.offset })
            }
            Kind::Word { text, field: Some(field), .. } => {
                self.clause(token.offset)?;
                Ok(QueryAst::Field { field, value: text, offset: token.offset })
            }
            Kind::Close => Err((token.offset, "unbalanced ')'".to_string())),
            Kind::And | Kind::Or | Kind::Not => {
                Err((token.offset, "expected a word, a phrase or '(' before this operator".to_string()))
            }
        }
    }
}

/// The one item of `items`, or `many` of them (`items` is never empty).
fn one_or(items: Vec<QueryAst>, many: fn(Vec<QueryAst>) -> QueryAst) -> QueryAst {
    match <[QueryAst; 1]>::try_from(items) {
        Ok([one]) => one,
        Err(items) => many(items),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> QueryAst {
        QueryAst::Text { text: t.into(), prefix: false, offset: 0 }
    }

    fn strip(ast: QueryAst) -> QueryAst {
        match ast {
            QueryAst::Text { text, prefix, .. } => QueryAst::Text { text, prefix, offset: 0 },
            QueryAst::Field { field, value, .. } => QueryAst::Field { field, value, offset: 0 },
            QueryAst::And(items) => QueryAst::And(items.into_iter().map(strip).collect()),
            QueryAst::Or(items) => QueryAst::Or(items.into_iter().map(strip).collect()),
            QueryAst::Not(inner) => QueryAst::Not(Box::new(strip(*inner))),
        }
    }

    fn parsed(q: &str) -> QueryAst {
        strip(parse_query(q).unwrap().unwrap())
    }

    #[test]
    fn precedence_and_implicit_and() {
        assert_eq!(
            parsed("cat dog OR bird"),
            QueryAst::Or(vec![QueryAst::And(vec![text("cat"), text("dog")]), text("bird")])
        );
        assert_eq!(
            parsed("cat AND NOT (dog OR \"big bird\")"),
            QueryAst::And(vec![
                text("cat"),
                QueryAst::Not(Box::new(QueryAst::Or(vec![text("dog"), text("big bird")])))
            ])
        );
        assert_eq!(parsed("-dog cat"), QueryAst::And(vec![QueryAst::Not(Box::new(text("dog"))), text("cat")]));
        assert_eq!(parsed("and or not"), QueryAst::And(vec![text("and"), text("or"), text("not")]));
        assert_eq!(parsed("spider-man"), text("spider-man"));
    }

    #[test]
    fn prefixes_and_fields() {
        assert_eq!(parsed("kinka*"), QueryAst::Text { text: "kinka".into(), prefix: true, offset: 0 });
        assert_eq!(
            parsed("host:i.pinimg.com"),
            QueryAst::Field { field: "host".into(), value: "i.pinimg.com".into(), offset: 0 }
        );
        assert_eq!(
            parsed("Language:\"en\""),
            QueryAst::Field { field: "language".into(), value: "en".into(), offset: 0 }
        );
        assert_eq!(parsed("re:zero"), text("re:zero"));
        assert_eq!(parse_query("   ").unwrap(), None);
    }

    #[test]
    fn errors_say_where() {
        for (query, offset, needle) in [
            ("*", 0, "prefix needs"),
            ("cat AND", 4, "expected a word"),
            ("(cat", 0, "never closed"),
            ("cat)", 3, "unbalanced"),
            ("\"open phrase", 0, "never closed"),
            ("host:", 5, "expected a value"),
            ("ca*t", 2, "only allowed at the end"),
            ("OR cat", 0, "before this operator"),
        ] {
            let error = parse_query(query).unwrap_err();
            assert_eq!(error.offset, offset, "{query}: {error}");
            assert!(error.message.contains(needle), "{query}: {error}");
            assert!(error.to_string().contains('^'));
        }
    }

    #[test]
    fn limits_are_enforced() {
        assert!(parse_query(&"a ".repeat(MAX_QUERY_BYTES)).unwrap_err().message.contains("longer than"));
        assert!(parse_query(&"w ".repeat(MAX_CLAUSES + 1)).unwrap_err().message.contains("more than"));
        let deep = format!("{}x{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert!(parse_query(&deep).unwrap_err().message.contains("deeper"));
        let nots = format!("{}x", "NOT ".repeat(MAX_DEPTH + 1));
        assert!(parse_query(&nots).unwrap_err().message.contains("deeper"));
    }

    #[test]
    fn an_overlong_query_is_refused_at_a_character_boundary() {
        // Found by fuzzing: ideographic spaces (3 bytes each) put the cap inside a character,
        // and rendering the failure sliced the text there and panicked.
        let text = "\u{3000}".repeat(MAX_QUERY_BYTES / 3 + 1);
        let error = parse_query(&text).unwrap_err();
        assert!(text.is_char_boundary(error.offset), "offset {}", error.offset);
        assert!(error.offset <= MAX_QUERY_BYTES);
        assert!(error.to_string().starts_with("the query is longer than 8192 bytes at column 2731\n"), "{error}");
    }
}
