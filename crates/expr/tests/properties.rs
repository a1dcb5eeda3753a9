//! Properties over generated input: the canonical text parses back to the same tree, and no
//! text whatsoever makes the parser (or binding and evaluation) panic.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use pairscope_expr::{CmpOp, Column, Expr, Literal, Number, Value, parse};
use proptest::prelude::*;

fn column() -> impl Strategy<Value = Column> {
    prop_oneof![
        "[a-z_][a-z0-9_]{0,8}",
        Just("and".to_owned()),
        Just("Null".to_owned()),
        "[A-Za-z][A-Za-z0-9 _]{0,8}",
        "\\PC{1,6}",
        any::<String>().prop_filter("names are non-empty", |s| !s.is_empty()),
    ]
    .prop_map(Column::new)
}

fn number() -> impl Strategy<Value = Number> {
    "-?([0-9]{1,20}|[0-9]{0,5}\\.[0-9]{1,5}|[0-9]{1,5}\\.)([eE][+-]?[0-9]{1,4})?".prop_map(|text| text.parse().unwrap())
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        number().prop_map(Literal::Number),
        any::<String>().prop_map(Literal::Text),
        "[a-z' ]{0,6}".prop_map(Literal::Text),
        any::<bool>().prop_map(Literal::Bool),
    ]
    .prop_map(Value::new)
}

fn op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)]
}

/// Any tree `parse` can return: AND/OR with at least two operands.
fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        column().prop_map(Expr::Column),
        (column(), op(), value()).prop_map(|(column, op, value)| Expr::Compare { column, op, value }),
        (column(), prop::collection::vec(value(), 1..5), any::<bool>())
            .prop_map(|(column, values, negated)| Expr::In { column, values, negated }),
        (column(), value(), value(), any::<bool>()).prop_map(|(column, low, high, negated)| Expr::Between {
            column,
            low,
            high,
            negated
        }),
        (column(), any::<bool>()).prop_map(|(column, negated)| Expr::IsNull { column, negated }),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

/// Fragments of the language, so random concatenations reach deep into the parser.
const FRAGMENTS: &[&str] = &[
    "a",
    "Width",
    "\"q\"\"x\"",
    "\"",
    "'",
    "'s''t'",
    "(",
    ")",
    ",",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "-",
    ".",
    "5",
    "-1.5e3",
    "1e",
    "AND",
    "or",
    "NOT",
    "IN",
    "between",
    "IS",
    "NULL",
    "TRUE",
    "false",
    " ",
    "\t",
    "é",
    "日",
    ";",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|parts| parts.join(" "))
}

fn small_batch() -> RecordBatch {
    let schema = Schema::new(vec![
        Field::new("a", DataType::Boolean, true),
        Field::new("width", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("x", DataType::Float64, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(Int32Array::from(vec![Some(5), Some(-1), None])),
        Arc::new(StringArray::from(vec![Some("s't"), None, Some("")])),
        Arc::new(Float64Array::from(vec![None, Some(0.5), Some(f64::NAN)])),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn canonical_text_parses_back_to_the_same_tree(e in expr()) {
        let text = e.to_string();
        let back = parse(&text).map_err(|err| TestCaseError::fail(format!("{err}")))?;
        prop_assert_eq!(&back, &e, "text: {}", text);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn fragments_never_panic_and_what_parses_round_trips(text in soup()) {
        if let Ok(e) = parse(&text) {
            prop_assert_eq!(parse(&e.to_string()).ok(), Some(e.clone()), "text: {}", text);
            // Whatever binds evaluates; the mask never holds nulls.
            let batch = small_batch();
            if let Ok(bound) = e.bind(batch.schema().as_ref()) {
                let mask = bound.evaluate(&batch).map_err(|err| TestCaseError::fail(format!("{err}")))?;
                prop_assert_eq!(mask.null_count(), 0);
            }
        }
    }

    #[test]
    fn number_texts_read_back(n in number()) {
        prop_assert_eq!(n.as_str().parse::<Number>().ok(), Some(n.clone()));
    }
}
