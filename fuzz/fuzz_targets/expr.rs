//! The EXPR parser and binder, which read every `--where` and the web form's filters. Besides
//! not panicking: a refusal points into the text and renders with a caret; an accepted
//! expression reads back as the same tree from its canonical text and from its SQL; bound to
//! the canonical columns, it evaluates a batch to a mask without nulls, and no row matches
//! both it and its negation; a binding failure points at a name or literal of the text; and a
//! text past the byte cap is refused.
#![no_main]

use std::sync::{Arc, LazyLock};

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use libfuzzer_sys::fuzz_target;
use pairscope_expr::{Expr, ExprError, MAX_EXPR_BYTES, ParseError, ParseErrorKind, compile, parse};
use pairscope_model::columns::{CANONICAL_COLUMNS, ColumnKind, canonical_schema};

static SCHEMA: LazyLock<Schema> = LazyLock::new(canonical_schema);

/// Every canonical column with a null, a zero, ordinary values and the extremes the evaluator
/// must fold (-0, NaN, infinities, the integer bounds).
static BATCH: LazyLock<RecordBatch> = LazyLock::new(|| {
    let column = |kind| -> ArrayRef {
        match kind {
            ColumnKind::RowId => {
                Arc::new(Int64Array::from(vec![None, Some(0), Some(1), Some(42), Some(i64::MAX), Some(i64::MIN)]))
            }
            ColumnKind::Int => {
                Arc::new(Int32Array::from(vec![None, Some(0), Some(-1), Some(1024), Some(i32::MAX), Some(i32::MIN)]))
            }
            ColumnKind::Float => Arc::new(Float64Array::from(vec![
                None,
                Some(-0.0),
                Some(0.5),
                Some(6.5),
                Some(f64::NAN),
                Some(f64::NEG_INFINITY),
            ])),
            ColumnKind::Text => {
                Arc::new(StringArray::from(vec![None, Some(""), Some("en"), Some("EN"), Some("it's"), Some("北斎")]))
            }
            ColumnKind::Bool => {
                Arc::new(BooleanArray::from(vec![None, Some(false), Some(true), Some(true), Some(false), Some(true)]))
            }
        }
    };
    // The batch holds nulls in every column, so its schema declares every column nullable;
    // evaluation looks columns up by name and type only.
    let fields: Vec<Field> = CANONICAL_COLUMNS.iter().map(|c| Field::new(c.name, c.kind.data_type(), true)).collect();
    let columns = CANONICAL_COLUMNS.iter().map(|c| column(c.kind)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one array per field, each of its type")
});

fuzz_target!(|data: &[u8]| {
    // `--where` and a form field both reach the parser as a `&str`.
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_length_cap(text);
    match parse(text) {
        Err(error) => {
            check_parse_error(text, &error);
            assert_eq!(compile(text, &SCHEMA).err(), Some(ExprError::Parse(error)));
        }
        Ok(expr) => {
            assert!(text.len() <= MAX_EXPR_BYTES);
            check_round_trips(&expr);
            check_binding(text, &expr);
        }
    }
});

fn check_parse_error(text: &str, error: &ParseError) {
    assert!(error.offset() <= text.len(), "{error}");
    let column = error.column();
    assert!((1..=text.chars().count() + 1).contains(&column), "{error}");
    match error.kind() {
        ParseErrorKind::Empty => assert!(text.trim().is_empty(), "{text:?} read as empty"),
        ParseErrorKind::TooLong { len, max } => assert!(*len == text.len() && len > max),
        ParseErrorKind::UnexpectedChar(c) => assert!(text[error.offset()..].starts_with(*c), "{error}"),
        _ => {}
    }
    let message = error.kind().to_string();
    assert!(!message.is_empty());
    let shown = error.to_string();
    assert!(shown.starts_with(&format!("{message} at column {column}:\n")), "{shown}");
    assert!(shown.ends_with('^'), "{shown}");
}

fn check_round_trips(expr: &Expr) {
    let canonical = expr.to_string();
    let sql = expr.to_sql();
    // The canonical text can be longer than what was written (`a=.5` is `a = 0.5`), and past
    // the cap it is refused like any long text; fuzzed inputs are far below it.
    if canonical.len() <= MAX_EXPR_BYTES {
        let reread = parse(&canonical).unwrap_or_else(|e| panic!("canonical {canonical:?}: {e}"));
        assert_eq!(&reread, expr, "{canonical:?}");
        assert_eq!(reread.to_string(), canonical);
    }
    // The language is a subset of SQL's WHERE with the same precedence, so the SQL reads back
    // as the same tree: a check that it is parenthesised wherever it must be.
    if sql.len() <= MAX_EXPR_BYTES {
        let reread = parse(&sql).unwrap_or_else(|e| panic!("SQL {sql:?}: {e}"));
        assert_eq!(&reread, expr, "{sql:?}");
    }
}

fn check_binding(text: &str, expr: &Expr) {
    match &compile(text, &SCHEMA) {
        Err(ExprError::Parse(error)) => panic!("{text:?} parsed, then failed to parse: {error}"),
        Err(failure @ ExprError::Bind { error, text: shown_text }) => {
            assert_eq!(shown_text, text);
            assert_eq!(expr.bind(&SCHEMA).as_ref().err(), Some(error));
            assert!(positions(expr).contains(&error.offset()), "{error} at {} in {text:?}", error.offset());
            let shown = failure.to_string();
            assert!(shown.starts_with(&error.to_string()) && shown.ends_with('^'), "{shown}");
        }
        Ok(bound) => {
            for name in bound.expr().columns() {
                assert!(SCHEMA.field_with_name(&name).is_ok(), "{name} bound to no canonical column");
            }
            let matches = bound.evaluate(&BATCH).expect("a batch of the bound columns");
            assert_eq!(matches.len(), BATCH.num_rows());
            assert_eq!(matches.null_count(), 0);
            let negation = Expr::Not(Box::new(expr.clone())).bind(&SCHEMA).expect("binds as its operand did");
            let rejects = negation.evaluate(&BATCH).expect("a batch of the bound columns");
            for row in 0..BATCH.num_rows() {
                assert!(!(matches.value(row) && rejects.value(row)), "row {row} matches {expr} and its negation");
            }
        }
    }
}

/// Where the expression's names and literals were written.
fn positions(expr: &Expr) -> Vec<usize> {
    match expr {
        Expr::Column(column) | Expr::IsNull { column, .. } => vec![column.offset],
        Expr::Compare { column, value, .. } => vec![column.offset, value.offset],
        Expr::In { column, values, .. } => {
            std::iter::once(column.offset).chain(values.iter().map(|v| v.offset)).collect()
        }
        Expr::Between { column, low, high, .. } => vec![column.offset, low.offset, high.offset],
        Expr::Not(inner) => positions(inner),
        Expr::And(items) | Expr::Or(items) => items.iter().flat_map(positions).collect(),
    }
}

/// Any text repeated past the byte cap is refused at a character of it. (Not rendered: the
/// caret line of a 64 KiB text would dominate the run; shorter ones render above.)
fn check_length_cap(text: &str) {
    if text.is_empty() {
        return;
    }
    let long = text.repeat(MAX_EXPR_BYTES / text.len() + 1);
    let error = parse(&long).expect_err("an expression over the byte cap");
    assert_eq!(error.kind(), &ParseErrorKind::TooLong { len: long.len(), max: MAX_EXPR_BYTES });
    assert!(long.is_char_boundary(error.offset()) && error.offset() <= MAX_EXPR_BYTES, "{}", error.offset());
}
