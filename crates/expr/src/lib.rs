//! EXPR, the filter language every pairscope command that filters rows shares (search, count,
//! facets, mentions, subset, the web UI).
//!
//! This crate owns:
//! - the grammar and its hand-written recursive-descent parser ([`parse`]) producing a typed
//!   AST ([`Expr`]), with errors that point at the failing byte ([`ParseError`]);
//! - binding an expression to an Arrow schema ([`Expr::bind`]): column resolution and type
//!   checking, giving a [`BoundExpr`] that evaluates a `RecordBatch` to a match mask with
//!   Arrow's compute kernels and SQL's three-valued logic;
//! - the two text forms of an expression: the canonical one ([`Expr`]'s `Display`, used in
//!   manifests and cache keys, and parsed back to the same AST) and standard SQL
//!   ([`Expr::to_sql`]) so DataFusion and DuckDB can be handed the very same filter.
//!
//! It must never do I/O (no files, no parquet, no network), never panic or overflow the stack
//! on any input text, and never decide what a filter means differently from SQL: DuckDB is the
//! reference, and a differential test holds the evaluator to it.
//!
//! # Grammar
//!
//! Keywords and bare column names are case-insensitive (bare names are lower-cased; a column
//! is then looked up exactly first, then case-insensitively). Whitespace separates tokens.
//!
//! ```ebnf
//! expr        = and_expr , { "OR" , and_expr } ;
//! and_expr    = not_expr , { "AND" , not_expr } ;
//! not_expr    = "NOT" , not_expr
//!             | primary ;
//! primary     = "(" , expr , ")"
//!             | column , [ test ]              (* without a test: a boolean column *)
//!             | literal , cmp_op , column ;    (* read as: column, mirrored op, literal *)
//! test        = cmp_op , literal
//!             | [ "NOT" ] , "IN" , "(" , literal , { "," , literal } , ")"
//!             | [ "NOT" ] , "BETWEEN" , literal , "AND" , literal
//!             | "IS" , [ "NOT" ] , "NULL" ;
//! cmp_op      = "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ;
//! literal     = number | string | "TRUE" | "FALSE" ;
//! column      = identifier | quoted_name ;
//! identifier  = ( letter | "_" ) , { letter | digit | "_" } ;   (* ASCII; not a keyword *)
//! quoted_name = '"' , { character - '"' | '""' } , '"' ;        (* non-empty *)
//! string      = "'" , { character - "'" | "''" } , "'" ;
//! number      = [ "-" ] , ( digit , { digit } , [ "." , { digit } ] | "." , digit , { digit } ) ,
//!               [ ( "e" | "E" ) , [ "+" | "-" ] , digit , { digit } ] ;
//! keyword     = "AND" | "OR" | "NOT" | "IN" | "BETWEEN" | "IS" | "NULL" | "TRUE" | "FALSE" ;
//! ```
//!
//! `NULL` is only a keyword of `IS [NOT] NULL`: it is not a value, so `x = NULL` and
//! `x IN (1, NULL)` are refused with a hint. Comparing two columns is not part of the language.
//!
//! # Meaning
//!
//! - Three-valued logic as in SQL: a comparison with a null is unknown, `NOT unknown` is
//!   unknown, `AND`/`OR` follow Kleene; a row matches only when the whole expression is TRUE
//!   (so `NOT (punsafe >= 0.5)` does not match rows whose punsafe is null).
//! - `x BETWEEN a AND b` is `x >= a AND x <= b`; `x IN (a, b)` is `x = a OR x = b`.
//! - Integer columns compare with number literals exactly (`width > 1023.5` is `width >= 1024`),
//!   whatever the literal's size; float columns compare with the literal rounded to the
//!   column's precision (a Float32 column with the nearest Float32, as DuckDB does). NaN is
//!   equal to itself and greater than every number, and -0 equals 0 (both as in DuckDB).
//! - Text compares byte-wise (binary collation, DuckDB's default).
//! - Numeric columns: every Arrow integer type, Float32, Float64; text: Utf8, LargeUtf8,
//!   Utf8View; boolean: Boolean; dictionary-encoded columns of those too. Any other type can
//!   only be tested with `IS [NOT] NULL`.
//!
//! # Limits
//!
//! Input longer than [`MAX_EXPR_BYTES`], nesting (parentheses and `NOT`) deeper than
//! [`MAX_DEPTH`] and `IN` lists longer than [`MAX_IN_LIST`] are refused with a [`ParseError`].

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

mod ast;
mod bind;
mod error;
mod eval;
mod lexer;
mod number;
mod parser;

pub use ast::{CmpOp, Column, Expr, Literal, Value};
pub use bind::BoundExpr;
pub use error::{BindError, ColumnHint, EvalError, ExprError, ParseError, ParseErrorKind};
pub use number::{Number, NumberError};

use arrow::datatypes::Schema;

/// The longest expression text accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 64 * 1024;

/// The deepest nesting of parentheses and `NOT` accepted.
pub const MAX_DEPTH: usize = 64;

/// The most values one `IN (...)` list may hold.
pub const MAX_IN_LIST: usize = 10_000;

/// Parses an expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    parser::parse(text)
}

/// Parses an expression and binds it to `schema`: what a command does with a user's `--where`.
/// Errors of either step render with a caret under the failing position in `text`.
pub fn compile(text: &str, schema: &Schema) -> Result<BoundExpr, ExprError> {
    let expr = parse(text)?;
    expr.bind(schema).map_err(|error| ExprError::Bind { error, text: text.to_owned() })
}
