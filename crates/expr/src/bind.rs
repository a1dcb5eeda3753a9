//! Binding: resolving an expression's columns in a schema, checking each literal against its
//! column's type, and lowering the expression to the small tree [`crate::eval`] runs. All the
//! decisions about what a comparison means (exact integer bounds, float rounding, IN sets)
//! are taken here, once, so evaluation is only Arrow kernels over each batch.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, Scalar, StringArray, StringViewArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::datatypes::{DataType, Fields, Schema};

use crate::ast::{CmpOp, Column, Expr, Literal, Value};
use crate::error::{BindError, ColumnHint};
use crate::number::Number;

/// An expression bound to a schema, ready to evaluate batches of that schema (or of any
/// projection of it that keeps the columns the expression uses).
#[derive(Debug)]
pub struct BoundExpr {
    expr: Expr,
    pub(crate) columns: Vec<BoundColumn>,
    pub(crate) root: Node,
}

impl BoundExpr {
    /// The expression with every column name spelled exactly as in the schema: hand its
    /// [`Expr::to_sql`] to an engine with case-sensitive quoted names, and its
    /// [`Expr::columns`] to a reader's projection.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }
}

/// A column the expression uses, as the schema declared it.
#[derive(Debug)]
pub(crate) struct BoundColumn {
    pub name: String,
    pub data_type: DataType,
    /// How the values compare; `None` for a type that only `IS [NOT] NULL` applies to.
    pub form: Option<Form>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Form {
    pub kind: Kind,
    /// The type values are compared in: the column's own, or a dictionary's value type.
    pub value_type: DataType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Float32,
    Float64,
    Text,
    Bool,
}

/// The evaluation tree. Every leaf reads one column (by its index in `BoundExpr::columns`)
/// and yields TRUE, FALSE or NULL per row.
#[derive(Debug)]
pub(crate) enum Node {
    IsNull {
        slot: usize,
        negated: bool,
    },
    /// A boolean column as it is.
    Truthy {
        slot: usize,
    },
    /// `column op scalar`, the scalar already in the column's comparison type.
    Cmp {
        slot: usize,
        op: CmpOp,
        scalar: Scalar<ArrayRef>,
    },
    /// `value` where the column is not null, NULL where it is: an integer column compared with
    /// a literal no value of its type can equal, or that lies beyond its whole range.
    Const {
        slot: usize,
        value: bool,
    },
    /// `column IN set`.
    InSet {
        slot: usize,
        set: Set,
    },
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
}

/// The values of an IN list, in the column's comparison type (floats by their bits, with -0
/// folded into 0; NaN cannot be written as a literal).
#[derive(Debug)]
pub(crate) enum Set {
    Int(HashSet<i128>),
    Float32(HashSet<u32>),
    Float64(HashSet<u64>),
    Text(HashSet<String>),
}

impl Expr {
    /// Resolves the columns in `schema` (exact name first, then case-insensitively) and
    /// checks each literal against its column's type.
    pub fn bind(&self, schema: &Schema) -> Result<BoundExpr, BindError> {
        let mut binder = Binder { schema, columns: Vec::new() };
        let (root, expr) = binder.bind(self)?;
        Ok(BoundExpr { expr, columns: binder.columns, root })
    }
}

struct Binder<'a> {
    schema: &'a Schema,
    columns: Vec<BoundColumn>,
}

impl Binder<'_> {
    /// Binds `expr`, returning its evaluation tree and the expression with resolved names.
    fn bind(&mut self, expr: &Expr) -> Result<(Node, Expr), BindError> {
        Ok(match expr {
            Expr::Column(column) => {
                let (slot, resolved) = self.resolve(column)?;
                let bound = &self.columns[slot];
                if bound.form.as_ref().is_none_or(|form| form.kind != Kind::Bool) {
                    return Err(BindError::NotBoolean {
                        column: bound.name.clone(),
                        data_type: bound.data_type.clone(),
                        offset: column.offset,
                    });
                }
                (Node::Truthy { slot }, Expr::Column(resolved))
            }
            Expr::Compare { column, op, value } => {
                let (slot, resolved) = self.resolve(column)?;
                let node = self.compare(slot, column, *op, value)?;
                (node, Expr::Compare { column: resolved, op: *op, value: value.clone() })
            }
            Expr::In { column, values, negated } => {
                let (slot, resolved) = self.resolve(column)?;
                let node = self.in_list(slot, column, values)?;
                let node = if *negated { Node::Not(Box::new(node)) } else { node };
                (node, Expr::In { column: resolved, values: values.clone(), negated: *negated })
            }
            Expr::Between { column, low, high, negated } => {
                let (slot, resolved) = self.resolve(column)?;
                let both = Node::And(vec![
                    self.compare(slot, column, CmpOp::Ge, low)?,
                    self.compare(slot, column, CmpOp::Le, high)?,
                ]);
                let node = if *negated { Node::Not(Box::new(both)) } else { both };
                (node, Expr::Between { column: resolved, low: low.clone(), high: high.clone(), negated: *negated })
            }
            Expr::IsNull { column, negated } => {
                let (slot, resolved) = self.resolve(column)?;
                (Node::IsNull { slot, negated: *negated }, Expr::IsNull { column: resolved, negated: *negated })
            }
            Expr::Not(inner) => {
                let (node, expr) = self.bind(inner)?;
                (Node::Not(Box::new(node)), Expr::Not(Box::new(expr)))
            }
            Expr::And(items) => {
                let (nodes, exprs) = self.bind_all(items)?;
                (Node::And(nodes), Expr::And(exprs))
            }
            Expr::Or(items) => {
                let (nodes, exprs) = self.bind_all(items)?;
                (Node::Or(nodes), Expr::Or(exprs))
            }
        })
    }

    fn bind_all(&mut self, items: &[Expr]) -> Result<(Vec<Node>, Vec<Expr>), BindError> {
        let mut nodes = Vec::with_capacity(items.len());
        let mut exprs = Vec::with_capacity(items.len());
        for item in items {
            let (node, expr) = self.bind(item)?;
            nodes.push(node);
            exprs.push(expr);
        }
        Ok((nodes, exprs))
    }

    /// Finds `column` in the schema, returning its slot and the column with the schema's name.
    fn resolve(&mut self, column: &Column) -> Result<(usize, Column), BindError> {
        let fields = self.schema.fields();
        let field = match fields.iter().find(|f| *f.name() == column.name) {
            Some(field) => field,
            None => {
                let wanted = column.name.to_lowercase();
                let same: Vec<_> = fields.iter().filter(|f| f.name().to_lowercase() == wanted).collect();
                match same.as_slice() {
                    [field] => *field,
                    [] => {
                        return Err(BindError::UnknownColumn {
                            name: column.name.clone(),
                            offset: column.offset,
                            hint: hint(&column.name, fields),
                        });
                    }
                    _ => {
                        return Err(BindError::AmbiguousColumn {
                            name: column.name.clone(),
                            offset: column.offset,
                            candidates: same.iter().map(|f| f.name().clone()).collect(),
                        });
                    }
                }
            }
        };
        let slot = match self.columns.iter().position(|c| c.name == *field.name()) {
            Some(slot) => slot,
            None => {
                self.columns.push(BoundColumn {
                    name: field.name().clone(),
                    data_type: field.data_type().clone(),
                    form: form_of(field.data_type()),
                });
                self.columns.len() - 1
            }
        };
        Ok((slot, Column { name: field.name().clone(), offset: column.offset }))
    }

    /// The column's comparison form, or the error for a type filters cannot compare.
    fn form(&self, slot: usize, column: &Column) -> Result<&Form, BindError> {
        let bound = &self.columns[slot];
        bound.form.as_ref().ok_or_else(|| BindError::UnsupportedType {
            column: bound.name.clone(),
            data_type: bound.data_type.clone(),
            offset: column.offset,
        })
    }

    fn mismatch(&self, slot: usize, value: &Value) -> BindError {
        let bound = &self.columns[slot];
        let literal = match &value.literal {
            Literal::Number(number) => format!("the number {number}"),
            Literal::Text(_) => format!("the string {}", value.literal),
            Literal::Bool(_) => value.literal.to_string().to_uppercase(),
        };
        BindError::TypeMismatch {
            column: bound.name.clone(),
            data_type: bound.data_type.clone(),
            literal,
            offset: value.offset,
        }
    }

    fn compare(&self, slot: usize, column: &Column, op: CmpOp, value: &Value) -> Result<Node, BindError> {
        let form = self.form(slot, column)?;
        let scalar = |array: ArrayRef| Node::Cmp { slot, op, scalar: Scalar::new(array) };
        Ok(match (form.kind, &value.literal) {
            (Kind::Int, Literal::Number(number)) => int_compare(slot, &form.value_type, op, number),
            (Kind::Float64, Literal::Number(number)) => scalar(Arc::new(Float64Array::from(vec![float64(number)]))),
            (Kind::Float32, Literal::Number(number)) => scalar(Arc::new(Float32Array::from(vec![float32(number)]))),
            (Kind::Text, Literal::Text(text)) => scalar(match form.value_type {
                DataType::LargeUtf8 => Arc::new(LargeStringArray::from(vec![text.as_str()])),
                DataType::Utf8View => Arc::new(StringViewArray::from(vec![text.as_str()])),
                _ => Arc::new(StringArray::from(vec![text.as_str()])),
            }),
            (Kind::Bool, Literal::Bool(b)) => scalar(Arc::new(BooleanArray::from(vec![*b]))),
            _ => return Err(self.mismatch(slot, value)),
        })
    }

    fn in_list(&self, slot: usize, column: &Column, values: &[Value]) -> Result<Node, BindError> {
        let form = self.form(slot, column)?;
        let numbers = || {
            values
                .iter()
                .map(|v| match &v.literal {
                    Literal::Number(number) => Ok(number),
                    _ => Err(self.mismatch(slot, v)),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let set = match form.kind {
            Kind::Bool => {
                // At most two distinct values: plain comparisons are as good as a set.
                let tests =
                    values.iter().map(|v| self.compare(slot, column, CmpOp::Eq, v)).collect::<Result<_, _>>()?;
                return Ok(Node::Or(tests));
            }
            // A literal no integer equals (2.5) can never match, so it is left out.
            Kind::Int => Set::Int(
                numbers()?.into_iter().map(Number::floor_ceil).filter(|(f, c)| f == c).map(|(f, _)| f).collect(),
            ),
            Kind::Float32 => Set::Float32(numbers()?.into_iter().map(|n| float32(n).to_bits()).collect()),
            Kind::Float64 => Set::Float64(numbers()?.into_iter().map(|n| float64(n).to_bits()).collect()),
            Kind::Text => Set::Text(
                values
                    .iter()
                    .map(|v| match &v.literal {
                        Literal::Text(text) => Ok(text.clone()),
                        _ => Err(self.mismatch(slot, v)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Node::InSet { slot, set })
    }
}

/// The literal as a Float64 comparison operand: -0 is folded into 0 because the kernels order
/// floats totally (-0 < 0), where SQL holds them equal; columns get the same folding.
fn float64(number: &Number) -> f64 {
    number.to_f64() + 0.0
}

fn float32(number: &Number) -> f32 {
    number.to_f32() + 0.0
}

/// `column op number` for an integer column, exactly: the literal becomes the integer bound
/// with the same meaning (`x > 2.5` is `x > 2`, `x >= 2.5` is `x >= 3`), and when no value of
/// the type can equal it, or it lies beyond the type's range, the answer is a constant.
fn int_compare(slot: usize, data_type: &DataType, op: CmpOp, number: &Number) -> Node {
    let (floor, ceil) = number.floor_ceil();
    let target = match op {
        CmpOp::Eq | CmpOp::Ne => (floor == ceil).then_some(floor),
        CmpOp::Lt | CmpOp::Ge => Some(ceil),
        CmpOp::Le | CmpOp::Gt => Some(floor),
    };
    if let Some(scalar) = target.and_then(|v| int_scalar(data_type, v)) {
        return Node::Cmp { slot, op, scalar };
    }
    // Every range holds 0, so a target outside it lies above when positive.
    let above = target.is_some_and(|v| v > 0);
    let value = match op {
        CmpOp::Eq => false,
        CmpOp::Ne => true,
        CmpOp::Lt | CmpOp::Le => above,
        CmpOp::Gt | CmpOp::Ge => !above,
    };
    Node::Const { slot, value }
}

/// `v` as a one-value array of the integer type, or `None` when the type cannot hold it.
fn int_scalar(data_type: &DataType, v: i128) -> Option<Scalar<ArrayRef>> {
    let array: ArrayRef = match data_type {
        DataType::Int8 => Arc::new(Int8Array::from(vec![i8::try_from(v).ok()?])),
        DataType::Int16 => Arc::new(Int16Array::from(vec![i16::try_from(v).ok()?])),
        DataType::Int32 => Arc::new(Int32Array::from(vec![i32::try_from(v).ok()?])),
        DataType::Int64 => Arc::new(Int64Array::from(vec![i64::try_from(v).ok()?])),
        DataType::UInt8 => Arc::new(UInt8Array::from(vec![u8::try_from(v).ok()?])),
        DataType::UInt16 => Arc::new(UInt16Array::from(vec![u16::try_from(v).ok()?])),
        DataType::UInt32 => Arc::new(UInt32Array::from(vec![u32::try_from(v).ok()?])),
        DataType::UInt64 => Arc::new(UInt64Array::from(vec![u64::try_from(v).ok()?])),
        _ => return None,
    };
    Some(Scalar::new(array))
}

/// How values of `data_type` compare, if filters can compare them at all.
fn form_of(data_type: &DataType) -> Option<Form> {
    let kind = match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Kind::Int,
        DataType::Float32 => Kind::Float32,
        DataType::Float64 => Kind::Float64,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Text,
        DataType::Boolean => Kind::Bool,
        // Compared as the decoded values.
        DataType::Dictionary(_, value_type) => return form_of(value_type),
        _ => return None,
    };
    Some(Form { kind, value_type: data_type.clone() })
}

/// The names to offer for an unknown column: those within a small edit distance or
/// containing it (closest first, at most three), else every name.
fn hint(name: &str, fields: &Fields) -> ColumnHint {
    let wanted = name.to_lowercase();
    let wanted_len = wanted.chars().count();
    let mut close: Vec<(usize, &String)> = fields
        .iter()
        .filter_map(|f| {
            let candidate = f.name().to_lowercase();
            let distance = edit_distance(&wanted, &candidate);
            let contains = wanted_len >= 3 && (candidate.contains(&wanted) || wanted.contains(&candidate));
            (distance <= (wanted_len / 3).max(1) || contains).then_some((distance, f.name()))
        })
        .collect();
    if close.is_empty() {
        const MAX_LISTED: usize = 40;
        return ColumnHint::Known(fields.iter().take(MAX_LISTED).map(|f| f.name().clone()).collect());
    }
    close.sort();
    ColumnHint::DidYouMean(close.into_iter().take(3).map(|(_, n)| n.clone()).collect())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;
    use arrow::datatypes::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("width", DataType::Int32, true),
            Field::new("aesthetic", DataType::Float64, true),
            Field::new("caption", DataType::Utf8, true),
            Field::new("optout_noai", DataType::Boolean, true),
            Field::new("Extra", DataType::Int64, true),
            Field::new("dup", DataType::Int64, true),
            Field::new("DUP", DataType::Int64, true),
            Field::new("when", DataType::Date32, true),
        ])
    }

    fn bind_err(text: &str) -> BindError {
        parse(text).unwrap().bind(&schema()).unwrap_err()
    }

    #[test]
    fn columns_resolve_case_insensitively_to_the_schema_name() {
        let bound = parse("EXTRA > 1 and \"extra\" < 5 and Width = 3").unwrap().bind(&schema()).unwrap();
        assert_eq!(bound.expr().columns(), ["Extra", "width"]);
        assert_eq!(bound.expr().to_sql(), "\"Extra\" > 1 AND \"Extra\" < 5 AND \"width\" = 3");
        assert_eq!(bound.columns.len(), 2);
        // An exact match wins over names differing in case.
        assert!(parse("\"DUP\" = 1").unwrap().bind(&schema()).is_ok());
    }

    #[test]
    fn unknown_columns_list_close_names() {
        let e = bind_err("width > 1 and aestetic > 5");
        assert_eq!(e.to_string(), "unknown column \"aestetic\"; did you mean aesthetic?");
        assert_eq!(e.offset(), 14);
        let e = bind_err("widths > 1");
        assert_eq!(e.to_string(), "unknown column \"widths\"; did you mean width?");
        let e = bind_err("zzz > 1");
        assert_eq!(
            e.to_string(),
            "unknown column \"zzz\"; the columns are: width, aesthetic, caption, optout_noai, Extra, dup, DUP, when"
        );
        let e = bind_err("\"x\" > 1");
        assert!(matches!(e, BindError::UnknownColumn { .. }), "{e}");
    }

    #[test]
    fn case_collisions_are_ambiguous() {
        let e = bind_err("\"Dup\" = 1");
        assert_eq!(
            e.to_string(),
            "column name \"Dup\" matches several columns that differ only in case (dup, DUP); write the exact name in double quotes"
        );
        assert_eq!(e.offset(), 0);
        // A bare name is lower-cased, so `Dup` is an exact match for `dup`.
        assert!(parse("Dup = 1").unwrap().bind(&schema()).is_ok());
    }

    #[test]
    fn literals_must_match_the_column_type() {
        for (text, message, offset) in [
            (
                "width > 'big'",
                "column \"width\" holds numbers (Int32) and cannot be compared with the string 'big'; write a number, e.g. 0.5",
                8,
            ),
            (
                "aesthetic = TRUE",
                "column \"aesthetic\" holds numbers (Float64) and cannot be compared with TRUE; write a number, e.g. 0.5",
                12,
            ),
            (
                "caption IN ('a', 5)",
                "column \"caption\" holds text (Utf8) and cannot be compared with the number 5; write text in single quotes, e.g. 'en'",
                17,
            ),
            (
                "optout_noai = 1",
                "column \"optout_noai\" holds booleans (Boolean) and cannot be compared with the number 1; write TRUE or FALSE",
                14,
            ),
            (
                "width BETWEEN 1 AND 'x'",
                "column \"width\" holds numbers (Int32) and cannot be compared with the string 'x'; write a number, e.g. 0.5",
                20,
            ),
            (
                "optout_noai IN (TRUE, 'x')",
                "column \"optout_noai\" holds booleans (Boolean) and cannot be compared with the string 'x'; write TRUE or FALSE",
                22,
            ),
            (
                "extra IN (1, FALSE)",
                "column \"Extra\" holds numbers (Int64) and cannot be compared with FALSE; write a number, e.g. 0.5",
                13,
            ),
        ] {
            let e = bind_err(text);
            assert_eq!((e.to_string(), e.offset()), (message.to_owned(), offset), "{text}");
        }
    }

    #[test]
    fn only_boolean_columns_stand_alone() {
        let e = bind_err("width");
        assert_eq!(
            e.to_string(),
            "column \"width\" is Int32, not a boolean, so it cannot stand alone as a condition; compare it with a value"
        );
        assert!(matches!(bind_err("not when"), BindError::NotBoolean { offset: 4, .. }));
    }

    #[test]
    fn other_types_allow_only_null_tests() {
        let e = bind_err("when > 5");
        assert_eq!(
            e.to_string(),
            "column \"when\" has type Date32, which filters cannot compare; only IS [NOT] NULL applies to it"
        );
        assert!(matches!(bind_err("when IN (1)"), BindError::UnsupportedType { .. }));
        assert!(parse("when IS NOT NULL").unwrap().bind(&schema()).is_ok());
    }

    #[test]
    fn compile_renders_bind_errors_with_a_caret() {
        let e = crate::compile("width > 'big'", &schema()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "column \"width\" holds numbers (Int32) and cannot be compared with the string 'big'; write a number, e.g. 0.5 at column 9:\n  width > 'big'\n          ^"
        );
        let e = crate::compile("width >", &schema()).unwrap_err();
        assert!(matches!(e, crate::ExprError::Parse(_)));
    }

    #[test]
    fn integer_bounds_become_constants_outside_the_range() {
        let int8 = DataType::Int8;
        let node = |text: &str, op| int_compare(0, &int8, op, &text.parse().unwrap());
        assert!(matches!(node("1000", CmpOp::Lt), Node::Const { value: true, .. }));
        assert!(matches!(node("1000", CmpOp::Gt), Node::Const { value: false, .. }));
        assert!(matches!(node("-1000", CmpOp::Le), Node::Const { value: false, .. }));
        assert!(matches!(node("-1000", CmpOp::Ge), Node::Const { value: true, .. }));
        assert!(matches!(node("2.5", CmpOp::Eq), Node::Const { value: false, .. }));
        assert!(matches!(node("2.5", CmpOp::Ne), Node::Const { value: true, .. }));
        assert!(matches!(node("127.5", CmpOp::Lt), Node::Const { value: true, .. }));
        assert!(matches!(node("127.5", CmpOp::Le), Node::Cmp { .. }));
        assert!(matches!(node("2.5", CmpOp::Gt), Node::Cmp { op: CmpOp::Gt, .. }));
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("aestetic", "aesthetic"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
