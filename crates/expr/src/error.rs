//! The errors of each step (parse, bind, evaluate), each saying where and what was expected.

use std::fmt;

use arrow::datatypes::DataType;
use arrow::error::ArrowError;

use crate::number::NumberError;

/// An expression text that is not in the language. Displays as the message, the column and
/// the text with a caret under the failing position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ParseErrorKind,
    offset: usize,
    text: String,
}

/// What is wrong with an expression text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("empty expression: expected a condition such as aesthetic >= 6")]
    Empty,
    #[error("expression is {len} bytes long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error("expression nests parentheses and NOT more than {max} deep")]
    TooDeep { max: usize },
    #[error("IN list has more than {max} values")]
    ListTooLong { max: usize },
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    #[error("unterminated string: expected a closing '")]
    UnterminatedString,
    #[error("unterminated quoted name: expected a closing \"")]
    UnterminatedName,
    #[error("empty quoted name \"\"")]
    EmptyName,
    #[error("invalid number: {0}")]
    InvalidNumber(NumberError),
    #[error("NULL is not a value: write `column IS NULL` or `column IS NOT NULL` to test for missing values")]
    NullValue,
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, offset: usize, text: &str) -> ParseError {
        ParseError { kind, offset, text: text.to_owned() }
    }

    pub fn kind(&self) -> &ParseErrorKind {
        &self.kind
    }

    /// Byte offset of the failing position in the text.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// 1-based character column of the failing position.
    pub fn column(&self) -> usize {
        Position { text: &self.text, offset: self.offset }.column()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, Position { text: &self.text, offset: self.offset })
    }
}

impl std::error::Error for ParseError {}

/// An expression that does not fit a schema. `offset` is the byte offset of the offending
/// column name or literal in the parsed text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error("unknown column {name:?}; {hint}")]
    UnknownColumn { name: String, offset: usize, hint: ColumnHint },
    #[error(
        "column name {name:?} matches several columns that differ only in case ({}); write the exact name in double quotes",
        candidates.join(", ")
    )]
    AmbiguousColumn { name: String, offset: usize, candidates: Vec<String> },
    #[error("column {column:?} holds {} ({data_type}) and cannot be compared with {literal}{}", holds(.data_type), hint(.data_type))]
    TypeMismatch { column: String, data_type: DataType, literal: String, offset: usize },
    #[error(
        "column {column:?} is {data_type}, not a boolean, so it cannot stand alone as a condition; compare it with a value"
    )]
    NotBoolean { column: String, data_type: DataType, offset: usize },
    #[error("column {column:?} has type {data_type}, which filters cannot compare; only IS [NOT] NULL applies to it")]
    UnsupportedType { column: String, data_type: DataType, offset: usize },
}

impl BindError {
    /// Byte offset of the offending name or literal in the parsed text.
    pub fn offset(&self) -> usize {
        match self {
            BindError::UnknownColumn { offset, .. }
            | BindError::AmbiguousColumn { offset, .. }
            | BindError::TypeMismatch { offset, .. }
            | BindError::NotBoolean { offset, .. }
            | BindError::UnsupportedType { offset, .. } => *offset,
        }
    }
}

/// Names offered for a column the schema does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnHint {
    /// Names close to the one written, closest first.
    DidYouMean(Vec<String>),
    /// Nothing is close: the schema's names (the first 40 of them).
    Known(Vec<String>),
}

impl fmt::Display for ColumnHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnHint::DidYouMean(names) => write!(f, "did you mean {}?", names.join(" or ")),
            ColumnHint::Known(names) if names.is_empty() => write!(f, "the schema has no columns"),
            ColumnHint::Known(names) => write!(f, "the columns are: {}", names.join(", ")),
        }
    }
}

/// What a column of `data_type` holds, in words, for a type-mismatch message.
fn holds(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "booleans",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Dictionary(_, value) => holds(value),
        _ => "numbers",
    }
}

/// How to write a literal a column of `data_type` can be compared with.
fn hint(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Boolean => "; write TRUE or FALSE",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "; write text in single quotes, e.g. 'en'",
        DataType::Dictionary(_, value) => hint(value),
        _ => "; write a number, e.g. 0.5",
    }
}

/// A parse or bind error of one expression text, rendered with a caret under the failing
/// position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprError {
    Parse(ParseError),
    Bind { error: BindError, text: String },
}

impl From<ParseError> for ExprError {
    fn from(error: ParseError) -> ExprError {
        ExprError::Parse(error)
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExprError::Parse(error) => error.fmt(f),
            ExprError::Bind { error, text } => write!(f, "{error} {}", Position { text, offset: error.offset() }),
        }
    }
}

impl std::error::Error for ExprError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExprError::Parse(_) => None,
            ExprError::Bind { error, .. } => Some(error),
        }
    }
}

/// A batch a [`crate::BoundExpr`] cannot be evaluated on.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("the batch has no column {column:?}, which the filter uses")]
    MissingColumn { column: String },
    #[error("column {column:?} was {bound} when the filter was bound but is {found} in the batch")]
    TypeChanged { column: String, bound: DataType, found: DataType },
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// A position in an expression text, displayed as `at column N:` and the text with a caret
/// under it; a long text shows only a window around the position.
struct Position<'a> {
    text: &'a str,
    offset: usize,
}

/// Characters of context shown around the caret in a long text.
const WINDOW: usize = 72;

impl Position<'_> {
    fn column(&self) -> usize {
        column_of(self.text, self.offset)
    }
}

/// The 1-based character column of byte `offset` in `text` (an offset inside a character
/// counts as that character).
pub(crate) fn column_of(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    text[..offset].chars().count() + 1
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let before = self.column() - 1;
        // Tabs and newlines would break the caret's alignment.
        let chars: Vec<char> = self.text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let start = if chars.len() > WINDOW { before.saturating_sub(WINDOW / 2) } else { 0 };
        let end = (start + WINDOW).min(chars.len()).max(start);
        let mut line = String::from("  ");
        let mut caret = 2 + before - start;
        if start > 0 {
            line.push('…');
            caret += 1;
        }
        line.extend(&chars[start..end]);
        if end < chars.len() {
            line.push('…');
        }
        write!(f, "at column {}:\n{line}\n{:caret$}^", before + 1, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(text: &str, offset: usize) -> String {
        Position { text, offset }.to_string()
    }

    #[test]
    fn caret_points_at_the_character() {
        assert_eq!(shown("aesthetic >= AND x", 13), "at column 14:\n  aesthetic >= AND x\n               ^");
        assert_eq!(shown("ü = 'x", 5), "at column 5:\n  ü = 'x\n      ^");
        assert_eq!(shown("a\tb\nc", 5), "at column 6:\n  a b c\n       ^");
        assert_eq!(shown("", 0), "at column 1:\n  \n  ^");
    }

    #[test]
    fn long_text_shows_a_window() {
        let text = format!("{}x{}", "a".repeat(100), "b".repeat(100));
        let out = shown(&text, 100);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "at column 101:");
        assert!(lines[1].starts_with("  …a") && lines[1].ends_with("b…"), "{out}");
        assert_eq!(lines[1].chars().nth(lines[2].len() - 1), Some('x'), "{out}");
    }

    #[test]
    fn messages_name_the_column_type_and_literal() {
        let e = BindError::TypeMismatch {
            column: "width".into(),
            data_type: DataType::Int32,
            literal: "the string 'big'".into(),
            offset: 8,
        };
        assert_eq!(
            e.to_string(),
            "column \"width\" holds numbers (Int32) and cannot be compared with the string 'big'; write a number, e.g. 0.5"
        );
    }
}
