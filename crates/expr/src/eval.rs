//! Evaluation of a bound expression over a `RecordBatch` with Arrow's kernels, in SQL's
//! three-valued logic; unknown becomes "no match" only at the very top.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::buffer::BooleanBuffer;
use arrow::compute::kernels::cmp;
use arrow::compute::{and_kleene, cast, is_not_null, is_null, not, or_kleene};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};

use crate::ast::CmpOp;
use crate::bind::{BoundColumn, BoundExpr, Kind, Node, Set};
use crate::error::EvalError;

impl BoundExpr {
    /// The rows of `batch` the expression matches: TRUE where it is TRUE, FALSE where it is
    /// FALSE or unknown (NULL), with no nulls, ready for `arrow::compute::filter`.
    ///
    /// `batch` needs the columns the expression uses, by the schema's names and with the
    /// types they had when it was bound; other columns are ignored.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray, EvalError> {
        let arrays = self.columns.iter().map(|column| prepare(column, batch)).collect::<Result<Vec<_>, _>>()?;
        let columns = Columns { bound: &self.columns, arrays, rows: batch.num_rows() };
        let mask = columns.eval(&self.root)?;
        Ok(match mask.nulls() {
            Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
            None => mask,
        })
    }
}

/// A column of the batch in its comparison form: dictionaries decoded, and floats with -0
/// folded into 0 and every NaN made the positive quiet NaN. The kernels order floats by IEEE
/// totalOrder, where -0 < 0 and a NaN with its sign bit set sorts below -inf; SQL (and DuckDB)
/// hold -0 = 0 and every NaN above all numbers, which the folding restores.
fn prepare(column: &BoundColumn, batch: &RecordBatch) -> Result<ArrayRef, EvalError> {
    let array =
        batch.column_by_name(&column.name).ok_or_else(|| EvalError::MissingColumn { column: column.name.clone() })?;
    if *array.data_type() != column.data_type {
        return Err(type_changed(column, array.data_type()));
    }
    let Some(form) = &column.form else { return Ok(Arc::clone(array)) };
    let array = if column.data_type == form.value_type { Arc::clone(array) } else { cast(array, &form.value_type)? };
    Ok(match form.kind {
        Kind::Float64 => {
            let floats =
                array.as_primitive_opt::<Float64Type>().ok_or_else(|| type_changed(column, array.data_type()))?;
            Arc::new(floats.unary::<_, Float64Type>(|x| if x.is_nan() { f64::NAN } else { x + 0.0 }))
        }
        Kind::Float32 => {
            let floats =
                array.as_primitive_opt::<Float32Type>().ok_or_else(|| type_changed(column, array.data_type()))?;
            Arc::new(floats.unary::<_, Float32Type>(|x| if x.is_nan() { f32::NAN } else { x + 0.0 }))
        }
        Kind::Int | Kind::Text | Kind::Bool => array,
    })
}

fn type_changed(column: &BoundColumn, found: &DataType) -> EvalError {
    EvalError::TypeChanged { column: column.name.clone(), bound: column.data_type.clone(), found: found.clone() }
}

struct Columns<'a> {
    bound: &'a [BoundColumn],
    arrays: Vec<ArrayRef>,
    rows: usize,
}

impl Columns<'_> {
    fn eval(&self, node: &Node) -> Result<BooleanArray, EvalError> {
        Ok(match node {
            Node::IsNull { slot, negated: false } => is_null(&self.arrays[*slot])?,
            Node::IsNull { slot, negated: true } => is_not_null(&self.arrays[*slot])?,
            Node::Truthy { slot } => {
                let array = &self.arrays[*slot];
                array.as_boolean_opt().ok_or_else(|| self.type_changed(*slot))?.clone()
            }
            Node::Cmp { slot, op, scalar } => {
                let array = &self.arrays[*slot];
                match op {
                    CmpOp::Eq => cmp::eq(array, scalar)?,
                    CmpOp::Ne => cmp::neq(array, scalar)?,
                    CmpOp::Lt => cmp::lt(array, scalar)?,
                    CmpOp::Le => cmp::lt_eq(array, scalar)?,
                    CmpOp::Gt => cmp::gt(array, scalar)?,
                    CmpOp::Ge => cmp::gt_eq(array, scalar)?,
                }
            }
            Node::Const { slot, value } => {
                let array = &self.arrays[*slot];
                let values =
                    if *value { BooleanBuffer::new_set(array.len()) } else { BooleanBuffer::new_unset(array.len()) };
                BooleanArray::new(values, array.logical_nulls())
            }
            Node::InSet { slot, set } => probe(&self.arrays[*slot], set).ok_or_else(|| self.type_changed(*slot))?,
            Node::Not(inner) => not(&self.eval(inner)?)?,
            // An empty AND is TRUE and an empty OR FALSE (the parser builds neither).
            Node::And(items) => self.fold(items, true, and_kleene)?,
            Node::Or(items) => self.fold(items, false, or_kleene)?,
        })
    }

    fn fold(
        &self,
        items: &[Node],
        empty: bool,
        combine: fn(&BooleanArray, &BooleanArray) -> Result<BooleanArray, arrow::error::ArrowError>,
    ) -> Result<BooleanArray, EvalError> {
        let mut acc: Option<BooleanArray> = None;
        for item in items {
            let value = self.eval(item)?;
            acc = Some(match acc {
                Some(acc) => combine(&acc, &value)?,
                None => value,
            });
        }
        Ok(acc.unwrap_or_else(|| BooleanArray::from(vec![empty; self.rows])))
    }

    fn type_changed(&self, slot: usize) -> EvalError {
        let column = &self.bound[slot];
        type_changed(column, self.arrays[slot].data_type())
    }
}

/// `array IN set`, NULL where the array is; `None` if the array is not of the set's type.
fn probe(array: &ArrayRef, set: &Set) -> Option<BooleanArray> {
    match set {
        Set::Int(set) => match array.data_type() {
            DataType::Int8 => probe_primitive::<Int8Type>(array, |v| set.contains(&i128::from(v))),
            DataType::Int16 => probe_primitive::<Int16Type>(array, |v| set.contains(&i128::from(v))),
            DataType::Int32 => probe_primitive::<Int32Type>(array, |v| set.contains(&i128::from(v))),
            DataType::Int64 => probe_primitive::<Int64Type>(array, |v| set.contains(&i128::from(v))),
            DataType::UInt8 => probe_primitive::<UInt8Type>(array, |v| set.contains(&i128::from(v))),
            DataType::UInt16 => probe_primitive::<UInt16Type>(array, |v| set.contains(&i128::from(v))),
            DataType::UInt32 => probe_primitive::<UInt32Type>(array, |v| set.contains(&i128::from(v))),
            DataType::UInt64 => probe_primitive::<UInt64Type>(array, |v| set.contains(&i128::from(v))),
            _ => None,
        },
        Set::Float32(set) => probe_primitive::<Float32Type>(array, |v| set.contains(&v.to_bits())),
        Set::Float64(set) => probe_primitive::<Float64Type>(array, |v| set.contains(&v.to_bits())),
        Set::Text(set) => match array.data_type() {
            DataType::Utf8 => array.as_string_opt::<i32>().map(|a| BooleanArray::from_unary(a, |v| set.contains(v))),
            DataType::LargeUtf8 => {
                array.as_string_opt::<i64>().map(|a| BooleanArray::from_unary(a, |v| set.contains(v)))
            }
            DataType::Utf8View => array.as_string_view_opt().map(|a| BooleanArray::from_unary(a, |v| set.contains(v))),
            _ => None,
        },
    }
}

fn probe_primitive<T: ArrowPrimitiveType>(array: &ArrayRef, test: impl Fn(T::Native) -> bool) -> Option<BooleanArray> {
    array.as_primitive_opt::<T>().map(|a| BooleanArray::from_unary(a, test))
}
