//! Evaluation of bound expressions on small hand-made batches, one property at a time.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float32Array, Float64Array, Int8Array, Int32Array,
    Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray, UInt64Array,
};
use arrow::datatypes::{Field, Int32Type, Schema};
use pairscope_expr::{EvalError, compile, parse};

/// A batch of the given columns, every one nullable.
fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns.iter().map(|(name, a)| Field::new(*name, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

/// The indices of the rows `text` matches.
fn rows(batch: &RecordBatch, text: &str) -> Vec<usize> {
    let bound = compile(text, batch.schema().as_ref()).unwrap_or_else(|e| panic!("{text}: {e}"));
    let mask = bound.evaluate(batch).unwrap();
    assert_eq!(mask.null_count(), 0, "the mask must have no nulls");
    assert_eq!(mask.len(), batch.num_rows());
    (0..mask.len()).filter(|&i| mask.value(i)).collect()
}

fn scores() -> RecordBatch {
    batch(vec![
        (
            "punsafe",
            Arc::new(Float64Array::from(vec![Some(0.1), Some(0.5), None, Some(0.9), Some(0.4999999)])) as ArrayRef,
        ),
        ("width", Arc::new(Int32Array::from(vec![Some(1023), Some(1024), Some(2048), None, Some(-5)]))),
        ("flag", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true), Some(false)]))),
        ("caption", Arc::new(StringArray::from(vec![Some("apple"), Some(""), Some("Banana"), None, Some("日本")]))),
    ])
}

#[test]
fn null_is_unknown_and_unknown_never_matches() {
    let b = scores();
    assert_eq!(rows(&b, "punsafe >= 0.5"), [1, 3]);
    assert_eq!(rows(&b, "NOT (punsafe >= 0.5)"), [0, 4]);
    assert_eq!(rows(&b, "punsafe < 0.5 OR punsafe IS NULL"), [0, 2, 4]);
    assert_eq!(rows(&b, "punsafe IS NOT NULL"), [0, 1, 3, 4]);
    // Kleene: FALSE AND unknown is FALSE (so NOT of it is TRUE); TRUE OR unknown is TRUE.
    assert_eq!(rows(&b, "NOT (width > 5000 AND punsafe > 0)"), [0, 1, 2, 4]);
    assert_eq!(rows(&b, "NOT (width > 5000 AND punsafe > 0.95)"), [0, 1, 2, 3, 4]);
    assert_eq!(rows(&b, "width > 0 OR punsafe > 0.8"), [0, 1, 2, 3]);
    assert_eq!(rows(&b, "NOT (width > 0 OR punsafe > 0.8)"), [4]);
    assert_eq!(rows(&b, "punsafe != 0.5"), [0, 3, 4]);
    assert_eq!(rows(&b, "punsafe NOT IN (0.5, 0.1)"), [3, 4]);
    assert_eq!(rows(&b, "punsafe NOT BETWEEN 0.2 AND 0.6"), [0, 3]);
}

#[test]
fn boolean_columns() {
    let b = scores();
    assert_eq!(rows(&b, "flag"), [0, 3]);
    assert_eq!(rows(&b, "NOT flag"), [1, 4]);
    assert_eq!(rows(&b, "flag = TRUE"), [0, 3]);
    assert_eq!(rows(&b, "flag != TRUE"), [1, 4]);
    assert_eq!(rows(&b, "flag IN (TRUE, FALSE)"), [0, 1, 3, 4]);
    assert_eq!(rows(&b, "flag NOT IN (FALSE)"), [0, 3]);
    assert_eq!(rows(&b, "flag > FALSE"), [0, 3]);
    assert_eq!(rows(&b, "flag IS NULL"), [2]);
}

#[test]
fn integer_columns_compare_exactly_with_decimals() {
    let b = scores();
    assert_eq!(rows(&b, "width > 1023.5"), [1, 2]);
    assert_eq!(rows(&b, "width >= 1023.5"), [1, 2]);
    assert_eq!(rows(&b, "width < 1023.5"), [0, 4]);
    assert_eq!(rows(&b, "width <= 1023.5"), [0, 4]);
    assert_eq!(rows(&b, "width = 1023.5"), Vec::<usize>::new());
    assert_eq!(rows(&b, "width != 1023.5"), [0, 1, 2, 4]);
    assert_eq!(rows(&b, "width = 1024.0"), [1]);
    assert_eq!(rows(&b, "width = 1.024e3"), [1]);
    assert_eq!(rows(&b, "width > -5.5"), [0, 1, 2, 4]);
    assert_eq!(rows(&b, "width BETWEEN 1023.1 AND 2047.9"), [1]);
    assert_eq!(rows(&b, "width IN (1024, 2048.5, -5.0)"), [1, 4]);
    assert_eq!(rows(&b, "1023.5 < width"), [1, 2]);
    // Beyond Int32's range: every non-null value is on one side.
    assert_eq!(rows(&b, "width < 1e30"), [0, 1, 2, 4]);
    assert_eq!(rows(&b, "width > 99999999999"), Vec::<usize>::new());
    assert_eq!(rows(&b, "width >= -99999999999"), [0, 1, 2, 4]);
    assert_eq!(rows(&b, "width != 99999999999"), [0, 1, 2, 4]);
}

#[test]
fn small_and_unsigned_integers_respect_their_ranges() {
    let b = batch(vec![
        ("tiny", Arc::new(Int8Array::from(vec![Some(-128), Some(0), Some(127), None])) as ArrayRef),
        ("big", Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(0), Some(1 << 63), None]))),
    ]);
    assert_eq!(rows(&b, "tiny < 1000"), [0, 1, 2]);
    assert_eq!(rows(&b, "tiny <= -129"), Vec::<usize>::new());
    assert_eq!(rows(&b, "tiny >= 127"), [2]);
    assert_eq!(rows(&b, "tiny > 126.5"), [2]);
    assert_eq!(rows(&b, "tiny IN (127, 1000, -128)"), [0, 2]);
    assert_eq!(rows(&b, "big = 18446744073709551615"), [0]);
    assert_eq!(rows(&b, "big > 9223372036854775807"), [0, 2]);
    assert_eq!(rows(&b, "big > -1"), [0, 1, 2]);
    assert_eq!(rows(&b, "big IN (9223372036854775808, -1)"), [2]);
}

#[test]
fn float32_extra_column() {
    let b = batch(vec![(
        "f32",
        Arc::new(Float32Array::from(vec![Some(0.1), Some(0.5), Some(-0.0), Some(f32::NAN), None, Some(2.5)]))
            as ArrayRef,
    )]);
    // The literal is rounded to the nearest Float32, so the stored 0.1 equals 0.1 (as in DuckDB).
    assert_eq!(rows(&b, "f32 = 0.1"), [0]);
    assert_eq!(rows(&b, "f32 > 0.1"), [1, 3, 5]);
    assert_eq!(rows(&b, "f32 <= 0.5"), [0, 1, 2]);
    assert_eq!(rows(&b, "f32 = 0"), [2]);
    assert_eq!(rows(&b, "f32 IN (0.1, 2.5, -0.0)"), [0, 2, 5]);
    assert_eq!(rows(&b, "f32 BETWEEN 0.1 AND 2.5"), [0, 1, 5]);
}

#[test]
fn float64_nan_and_signed_zero_follow_sql() {
    let negative_nan = f64::from_bits(0xfff8_0000_0000_0000);
    let b = batch(vec![(
        "x",
        Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(0.0),
            Some(f64::NAN),
            Some(negative_nan),
            Some(f64::INFINITY),
            Some(-1.0),
        ])) as ArrayRef,
    )]);
    assert_eq!(rows(&b, "x = 0"), [0, 1]);
    assert_eq!(rows(&b, "x = -0.0"), [0, 1]);
    assert_eq!(rows(&b, "x < 0"), [5]);
    assert_eq!(rows(&b, "x >= 0"), [0, 1, 2, 3, 4]);
    // NaN is greater than every number, infinity included, whatever its sign bit.
    assert_eq!(rows(&b, "x > 1e308"), [2, 3, 4]);
    assert_eq!(rows(&b, "x IN (0)"), [0, 1]);
}

#[test]
fn int64_extra_column() {
    let b = batch(vec![(
        "n",
        Arc::new(Int64Array::from(vec![Some(i64::MAX), Some(i64::MIN), Some(9_007_199_254_740_993), Some(0), None]))
            as ArrayRef,
    )]);
    assert_eq!(rows(&b, "n = 9223372036854775807"), [0]);
    assert_eq!(rows(&b, "n < -9223372036854775807"), [1]);
    assert_eq!(rows(&b, "n > 9223372036854775807"), Vec::<usize>::new());
    assert_eq!(rows(&b, "n < 9223372036854775807.5"), [0, 1, 2, 3]);
    // Exact, where a comparison through f64 would find these equal.
    assert_eq!(rows(&b, "n = 9007199254740992.0"), Vec::<usize>::new());
    assert_eq!(rows(&b, "n > 9007199254740992"), [0, 2]);
    assert_eq!(rows(&b, "n IN (0, 9007199254740993)"), [2, 3]);
}

#[test]
fn strings_compare_by_bytes() {
    let b = scores();
    // Byte order: upper case before lower case, and multi-byte characters after ASCII.
    assert_eq!(rows(&b, "caption < 'b'"), [0, 1, 2]);
    assert_eq!(rows(&b, "caption >= 'apple'"), [0, 4]);
    assert_eq!(rows(&b, "caption > 'z'"), [4]);
    assert_eq!(rows(&b, "caption = ''"), [1]);
    assert_eq!(rows(&b, "caption IN ('apple', '日本', 'nope')"), [0, 4]);
    assert_eq!(rows(&b, "caption NOT IN ('apple', '')"), [2, 4]);
    assert_eq!(rows(&b, "caption BETWEEN 'B' AND 'b'"), [0, 2]);
}

#[test]
fn every_string_encoding_filters_alike() {
    let values = vec![Some("en"), None, Some("de"), Some(""), Some("en")];
    let dictionary: DictionaryArray<Int32Type> = values.iter().copied().collect();
    let b = batch(vec![
        ("utf8", Arc::new(StringArray::from(values.clone())) as ArrayRef),
        ("large", Arc::new(LargeStringArray::from(values.clone()))),
        ("view", Arc::new(StringViewArray::from(values.clone()))),
        ("dict", Arc::new(dictionary)),
    ]);
    for column in ["utf8", "large", "view", "dict"] {
        assert_eq!(rows(&b, &format!("{column} = 'en'")), [0, 4], "{column}");
        assert_eq!(rows(&b, &format!("{column} > 'de'")), [0, 4], "{column}");
        assert_eq!(rows(&b, &format!("{column} IN ('de', '')")), [2, 3], "{column}");
        assert_eq!(rows(&b, &format!("{column} IS NULL")), [1], "{column}");
    }
}

#[test]
fn other_types_can_be_tested_for_null() {
    let b = batch(vec![("day", Arc::new(Date32Array::from(vec![Some(1), None])) as ArrayRef)]);
    assert_eq!(rows(&b, "day IS NULL"), [1]);
    assert_eq!(rows(&b, "day IS NOT NULL"), [0]);
}

#[test]
fn sliced_and_empty_batches() {
    let b = scores();
    assert_eq!(rows(&b.slice(1, 3), "width > 1023.5 OR caption = 'apple'"), [0, 1]);
    assert_eq!(rows(&b.slice(2, 0), "width > 1"), Vec::<usize>::new());
}

#[test]
fn a_projection_with_the_used_columns_is_enough() {
    let full = scores();
    let bound = compile("WIDTH > 1023.5 AND flag", full.schema().as_ref()).unwrap();
    assert_eq!(bound.expr().columns(), ["width", "flag"]);
    let projected = full.project(&[2, 1]).unwrap();
    assert_eq!(bound.evaluate(&projected).unwrap(), BooleanArray::from(vec![false, false, false, false, false]));
    let bound = compile("flag OR width = 1023", full.schema().as_ref()).unwrap();
    assert_eq!(bound.evaluate(&projected).unwrap(), BooleanArray::from(vec![true, false, false, true, false]));
}

#[test]
fn batches_that_do_not_fit_are_errors() {
    let full = scores();
    let bound = compile("width > 1", full.schema().as_ref()).unwrap();
    let missing = full.project(&[0]).unwrap();
    let e = bound.evaluate(&missing).unwrap_err();
    assert!(matches!(&e, EvalError::MissingColumn { column } if column == "width"), "{e}");
    assert_eq!(e.to_string(), "the batch has no column \"width\", which the filter uses");
    let changed = batch(vec![("width", Arc::new(Int64Array::from(vec![1_i64])) as ArrayRef)]);
    let e = bound.evaluate(&changed).unwrap_err();
    assert_eq!(e.to_string(), "column \"width\" was Int32 when the filter was bound but is Int64 in the batch");
}

#[test]
fn the_mask_filters_a_batch() {
    let b = scores();
    let mask = compile("punsafe < 0.5", b.schema().as_ref()).unwrap().evaluate(&b).unwrap();
    let kept = arrow::compute::filter_record_batch(&b, &mask).unwrap();
    assert_eq!(kept.num_rows(), 2);
}

#[test]
fn built_expressions_bind_like_parsed_ones() {
    use pairscope_expr::{CmpOp, Column, Expr, Literal, Value};
    let built = Expr::And(vec![
        Expr::Compare {
            column: Column::new("width"),
            op: CmpOp::Ge,
            value: Value::new(Literal::Number("1024".parse().unwrap())),
        },
        Expr::Not(Box::new(Expr::Column(Column::new("flag")))),
    ]);
    assert_eq!(built, parse("width >= 1024 and not flag").unwrap());
    let b = scores();
    assert_eq!(
        built.bind(b.schema().as_ref()).unwrap().evaluate(&b).unwrap(),
        BooleanArray::from(vec![false, true, false, false, false])
    );
}

#[test]
fn bound_expressions_can_be_shared_by_scanning_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<pairscope_expr::BoundExpr>();
    shareable::<pairscope_expr::Expr>();
}
