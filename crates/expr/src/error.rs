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
    /// The text has no token at all (empty or only whitespace).
    #[error("empty expression: expected a condition such as aesthetic >= 6")]
    Empty,
    /// The text is longer than the parser accepts.
    #[error("expression is {len} bytes long; the limit is {max}")]
    TooLong {
        /// The text's length in bytes.
        len: usize,
        /// The most bytes an expression may have.
        max: usize,
    },
    /// Parentheses and NOTs nest deeper than the parser accepts (which keeps it off the end of
    /// the stack).
    #[error("expression nests parentheses and NOT more than {max} deep")]
    TooDeep {
        /// The deepest nesting allowed.
        max: usize,
    },
    /// An `IN (...)` list with more values than allowed.
    #[error("IN list has more than {max} values")]
    ListTooLong {
        /// The most values an IN list may have.
        max: usize,
    },
    /// A character that starts no token of the language.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A `'` string literal without its closing quote.
    #[error("unterminated string: expected a closing '")]
    UnterminatedString,
    /// A `"` quoted column name without its closing quote.
    #[error("unterminated quoted name: expected a closing \"")]
    UnterminatedName,
    /// `""`: a quoted column name with nothing in it.
    #[error("empty quoted name \"\"")]
    EmptyName,
    /// A number literal that does not read as one.
    #[error("invalid number: {0}")]
    InvalidNumber(NumberError),
    /// `NULL` where a value was expected (`= NULL`), which SQL would make always unknown.
    #[error("NULL is not a value: write `column IS NULL` or `column IS NOT NULL` to test for missing values")]
    NullValue,
    /// A token the grammar does not allow where it stands.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the grammar allows there, in words.
        expected: String,
        /// The token found, in words (`column y`, `')'`, `the end of the expression`).
        found: String,
    },
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, offset: usize, text: &str) -> ParseError {
        ParseError { kind, offset, text: text.to_owned() }
    }

    /// What is wrong.
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
    /// No column of the schema has the name, exactly or case-insensitively.
    #[error("unknown column {name:?}; {hint}")]
    UnknownColumn {
        /// The name as the expression gives it.
        name: String,
        /// Where it stands in the text.
        offset: usize,
        /// Names to offer instead.
        hint: ColumnHint,
    },
    /// A bare name that matches no column exactly and several case-insensitively.
    #[error(
        "column name {name:?} matches several columns that differ only in case ({}); write the exact name in double quotes",
        candidates.join(", ")
    )]
    AmbiguousColumn {
        /// The name as the expression gives it.
        name: String,
        /// Where it stands in the text.
        offset: usize,
        /// The schema's names it matches.
        candidates: Vec<String>,
    },
    /// A literal of a kind the column's values cannot be compared with (text with a number).
    #[error("column {column:?} holds {} ({data_type}) and cannot be compared with {literal}{}", holds(.data_type), hint(.data_type))]
    TypeMismatch {
        /// The column's name in the schema.
        column: String,
        /// The column's type.
        data_type: DataType,
        /// The literal in words (`the number 5`, `the string 'en'`, `TRUE`).
        literal: String,
        /// Where the literal stands in the text.
        offset: usize,
    },
    /// A column that is not boolean used on its own as a condition.
    #[error(
        "column {column:?} is {data_type}, not a boolean, so it cannot stand alone as a condition; compare it with a value"
    )]
    NotBoolean {
        /// The column's name in the schema.
        column: String,
        /// The column's type.
        data_type: DataType,
        /// Where the name stands in the text.
        offset: usize,
    },
    /// A comparison on a column whose type filters cannot compare (a list, a binary, a
    /// struct, ...).
    #[error("column {column:?} has type {data_type}, which filters cannot compare; only IS [NOT] NULL applies to it")]
    UnsupportedType {
        /// The column's name in the schema.
        column: String,
        /// The column's type.
        data_type: DataType,
        /// Where the name stands in the text.
        offset: usize,
    },
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
    /// The text is not in the language.
    Parse(ParseError),
    /// The text parses but does not fit the schema.
    Bind {
        /// What does not fit.
        error: BindError,
        /// The expression text, to point into.
        text: String,
    },
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
    /// The batch lacks a column the expression was bound to.
    #[error("the batch has no column {column:?}, which the filter uses")]
    MissingColumn {
        /// The column's name.
        column: String,
    },
    /// A column's type in the batch is not the one in the schema the expression was bound to.
    #[error("column {column:?} was {bound} when the filter was bound but is {found} in the batch")]
    TypeChanged {
        /// The column's name.
        column: String,
        /// Its type in the bound schema.
        bound: DataType,
        /// Its type in the batch.
        found: DataType,
    },
    /// An Arrow compute kernel failed.
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
