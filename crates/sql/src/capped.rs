//! Checked versions of the SQL functions whose output is not bounded by their input.
//!
//! DataFusion's memory pool accounts for what operators hold, not for what a scalar function
//! allocates: `repeat(caption, 100000)` asks the allocator for the whole batch's result at
//! once, and a failed allocation aborts the process. So before such a function runs on a
//! batch, its checked version works out an upper bound of the bytes it would return (from the
//! lengths and counts of its arguments, without materialising anything) and fails with
//! [`DataFusionError::ResourcesExhausted`] past the cap, a fraction of the memory limit.
//!
//! A constant argument counts once per row when the others are columns: the function
//! broadcasts it, so `concat(<1 MB literal>, caption)` returns 8 GB for 8,192 rows. Operators
//! broadcast constants too (`SELECT <100 MB literal> FROM pairs`, a CASE branch), so
//! [`check_constants`] refuses a plan with a text constant that a batch could not hold.
//!
//! The checked versions replace the originals by a [`FunctionRewrite`] of every call in every
//! plan, not by registering them under the same names: SQL syntax such as `OVERLAY(… PLACING …)`
//! plans DataFusion's own function objects without looking them up by name. The same rewrite
//! turns the text operator `a || b` into a checked function with the operator's types and
//! null handling.

use std::any::Any;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::concat_elements::concat_elements_dyn;
use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ExprSchema, ScalarValue, exec_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::{BinaryExpr, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::interval_arithmetic::Interval;
use datafusion::logical_expr::preimage::PreimageResult;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::type_coercion::binary::BinaryTypeCoercer;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ExprSchemable, ExpressionPlacement, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, StructFieldMapping, Volatility,
};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_plan::ExecutionPlan;

/// The cap on what one call of a checked function may return, for a memory limit: a quarter,
/// so that a call on each of a few partitions at once stays within the limit.
pub fn output_cap(memory_limit: usize) -> usize {
    memory_limit / 4
}

/// The longest text constant a plan may hold: one that a batch of `batch_size` rows repeats
/// within `cap`, or 1 KiB, so small limits still allow ordinary literals.
fn longest_constant(cap: usize, batch_size: usize) -> u64 {
    (cap / batch_size.max(1)).max(1 << 10) as u64
}

/// Refuses a plan with a text or binary constant longer than `longest_constant`: an operator
/// that needs a column where the plan has a constant repeats it for every row of the batch.
pub fn check_constants(plan: &Arc<dyn ExecutionPlan>, cap: usize, batch_size: usize) -> Result<()> {
    let longest = longest_constant(cap, batch_size);
    let mut pending = vec![plan];
    while let Some(node) = pending.pop() {
        let mut found = None;
        node.apply_expressions(&mut |root| {
            root.apply(|expr| {
                let bytes = expr.downcast_ref::<Literal>().and_then(|literal| text_len(literal.value())).unwrap_or(0);
                if bytes > longest {
                    found = Some(bytes);
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        if let Some(bytes) = found {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the query has a constant of {}, which {} repeats for each of up to {batch_size} rows of a batch; \
                 constants may take {} (a quarter of the memory limit over a batch)",
                size(bytes),
                node.name(),
                size(longest),
            )));
        }
        pending.extend(node.children());
    }
    Ok(())
}

/// The length of a text or binary value; `None` for any other (nulls included).
fn text_len(scalar: &ScalarValue) -> Option<u64> {
    match scalar {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.len() as u64)
        }
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) | ScalarValue::BinaryView(Some(b)) => {
            Some(b.len() as u64)
        }
        ScalarValue::Dictionary(_, value) => text_len(value),
        _ => None,
    }
}

/// How a function's output grows with its arguments: an upper bound of one row's output bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(text, n)`: the text n times.
    Repeat,
    /// `lpad`/`rpad(text, n [, fill])`: n characters of at most 4 bytes, and no more than the
    /// fill's bytes each, plus the text.
    Pad,
    /// `concat(…)` and `overlay(text PLACING other …)`: at most every argument once.
    Sum,
    /// `concat_ws(separator, …)`: every argument once and the separator between each two.
    SumWithSeparator,
    /// `replace(text, from, to)`: `to` in place of each of at most len/len(from) + 1 matches.
    Replace,
    /// `regexp_replace(text, pattern, replacement [, flags])`: at most len + 1 matches (empty
    /// ones included), each replaced by the replacement's text; its group references add at
    /// most len in all per reference, since matches do not overlap. So len + (2 len + 1) × r.
    RegexpReplace,
    /// `to_char(value, format)`: no format specifier expands to more than 16 times its length
    /// (`%+` is 2 bytes for 32).
    Format,
}

impl Growth {
    /// The functions this module checks, by DataFusion's name for them.
    fn of(name: &str) -> Option<Growth> {
        Some(match name {
            "repeat" => Growth::Repeat,
            "lpad" | "rpad" => Growth::Pad,
            "concat" | "overlay" => Growth::Sum,
            "concat_ws" => Growth::SumWithSeparator,
            "replace" => Growth::Replace,
            "regexp_replace" => Growth::RegexpReplace,
            "to_char" => Growth::Format,
            _ => return None,
        })
    }

    /// The upper bound of one row's output from its arguments' lengths (`len`) and integer
    /// values (`int`).
    fn row(self, args: &[Values], row: usize) -> u64 {
        let len = |i: usize| args.get(i).map_or(0, |a| a.len(row));
        let count = |i: usize| args.get(i).map_or(0, |a| a.int(row));
        match self {
            Growth::Repeat => len(0).saturating_mul(count(1)),
            Growth::Pad => {
                let per_char = if args.len() > 2 { len(2).clamp(1, 4) } else { 1 };
                len(0).saturating_add(count(1).saturating_mul(per_char))
            }
            Growth::Sum => (0..args.len()).map(len).fold(0, u64::saturating_add),
            Growth::SumWithSeparator => {
                let separators = (args.len() as u64).saturating_sub(2);
                (1..args.len()).map(len).fold(len(0).saturating_mul(separators), u64::saturating_add)
            }
            Growth::Replace => {
                let matches = len(0) / len(1).max(1) + 1;
                len(0).saturating_add(matches.saturating_mul(len(2)))
            }
            Growth::RegexpReplace => {
                len(0).saturating_add(len(0).saturating_mul(2).saturating_add(1).saturating_mul(len(2)))
            }
            Growth::Format => len(1).saturating_mul(16),
        }
    }
}

/// One argument of a call, as much of it as a bound needs: lengths in bytes and, for counts,
/// integer values (null counts as 0 in both).
enum Values {
    Constant { len: u64, int: u64 },
    Column { lens: Vec<u64>, ints: Vec<u64> },
}

impl Values {
    fn new(arg: &ColumnarValue) -> Values {
        match arg {
            ColumnarValue::Scalar(scalar) => Values::Constant {
                len: scalar_len(scalar),
                int: match scalar.cast_to(&DataType::Int64) {
                    Ok(ScalarValue::Int64(Some(n))) => n.max(0) as u64,
                    _ => 0,
                },
            },
            ColumnarValue::Array(array) => Values::Column { lens: lens(array), ints: ints(array) },
        }
    }

    fn len(&self, row: usize) -> u64 {
        match self {
            Values::Constant { len, .. } => *len,
            Values::Column { lens, .. } => lens.get(row).copied().unwrap_or(0),
        }
    }

    fn int(&self, row: usize) -> u64 {
        match self {
            Values::Constant { int, .. } => *int,
            Values::Column { ints, .. } => ints.get(row).copied().unwrap_or(0),
        }
    }
}

/// The bytes a value adds to an output: a text's length; numbers, dates and the like print in
/// a few dozen bytes; a null adds nothing.
fn scalar_len(scalar: &ScalarValue) -> u64 {
    text_len(scalar).unwrap_or(if scalar.is_null() { 0 } else { 64 })
}

/// The byte length of every value of a text or binary array; for other types a bound of their
/// printed length.
fn lens(array: &ArrayRef) -> Vec<u64> {
    let value_len = |valid: bool, len: usize| if valid { len as u64 } else { 0 };
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::Binary => array.as_binary::<i32>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::LargeBinary => array.as_binary::<i64>().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::BinaryView => array.as_binary_view().iter().map(|v| v.map_or(0, |s| s.len() as u64)).collect(),
        DataType::Dictionary(..) => match arrow::compute::cast(array, &DataType::Utf8) {
            Ok(text) => lens(&text),
            Err(_) => (0..array.len()).map(|i| value_len(array.is_valid(i), 64)).collect(),
        },
        _ => (0..array.len()).map(|i| value_len(array.is_valid(i), 64)).collect(),
    }
}

/// Every value as a non-negative integer where it is one (0 otherwise): what a count argument
/// such as `repeat`'s n can be.
fn ints(array: &ArrayRef) -> Vec<u64> {
    if !array.data_type().is_integer() {
        return Vec::new();
    }
    match arrow::compute::cast(array, &DataType::Int64) {
        Ok(ints) => ints
            .as_primitive::<arrow::datatypes::Int64Type>()
            .iter()
            .map(|n| n.map_or(0, |n| n.max(0) as u64))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Replaces every call of a function `Growth` knows by its checked version.
#[derive(Debug)]
pub struct CapFunctions {
    cap: usize,
}

impl CapFunctions {
    pub(crate) fn new(cap: usize) -> CapFunctions {
        CapFunctions { cap }
    }

    /// `expr` calling checked functions; `schema` gives the types of `||`'s operands, when known.
    fn cap(&self, expr: Expr, schema: Option<&DFSchema>) -> Transformed<Expr> {
        match expr {
            Expr::ScalarFunction(ScalarFunction { func, args }) => match Capped::wrap(&func, self.cap) {
                Some(capped) => Transformed::yes(Expr::ScalarFunction(ScalarFunction { func: capped, args })),
                None => Transformed::no(Expr::ScalarFunction(ScalarFunction { func, args })),
            },
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::StringConcat, right })
                if schema.is_some_and(|schema| ConcatOperator::applies(&left, &right, schema)) =>
            {
                let func = Arc::new(ScalarUDF::new_from_impl(ConcatOperator::new(self.cap)));
                Transformed::yes(Expr::ScalarFunction(ScalarFunction { func, args: vec![*left, *right] }))
            }
            other => Transformed::no(other),
        }
    }
}

impl FunctionRewrite for CapFunctions {
    fn name(&self) -> &str {
        "pairscope_cap_functions"
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema, _config: &ConfigOptions) -> Result<Transformed<Expr>> {
        Ok(self.cap(expr, Some(schema)))
    }
}

/// Fails past `cap` when `growth` bounds the output of a call with `args` above it.
fn check(what: &str, growth: Growth, cap: usize, args: &ScalarFunctionArgs) -> Result<()> {
    let values: Vec<Values> = args.args.iter().map(Values::new).collect();
    // Constant arguments only give a constant: one row, whatever the batch.
    let all_constant = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_constant { 1 } else { args.number_rows };
    let bytes = (0..rows).map(|row| growth.row(&values, row)).fold(0, u64::saturating_add);
    if bytes > cap as u64 {
        return Err(DataFusionError::ResourcesExhausted(format!(
            "{what} could return {} for {rows} row{}, past the {} one call may return (a quarter of the memory limit)",
            size(bytes),
            if rows == 1 { "" } else { "s" },
            size(cap as u64),
        )));
    }
    Ok(())
}

/// A function checked against the cap before every call, otherwise the function itself.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Capped {
    inner: Arc<ScalarUDF>,
    growth: Growth,
    cap: usize,
}

impl Capped {
    /// The checked version of `func`, or `None` when it needs none (or is one already).
    fn wrap(func: &Arc<ScalarUDF>, cap: usize) -> Option<Arc<ScalarUDF>> {
        let inner: &dyn Any = func.inner().as_ref();
        if inner.is::<Capped>() {
            return None;
        }
        let growth = Growth::of(func.name())?;
        Some(Arc::new(ScalarUDF::new_from_impl(Capped { inner: func.clone(), growth, cap })))
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{b} bytes"),
    }
}

// Everything but the call delegates to the function itself, so planning, types, names and
// simplifications are DataFusion's own.
impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn display_name(&self, args: &[Expr]) -> Result<String> {
        #[expect(deprecated)]
        self.inner.inner().display_name(args)
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.inner().return_field_from_args(args)
    }

    fn is_nullable(&self, args: &[Expr], schema: &dyn ExprSchema) -> bool {
        #[expect(deprecated)]
        self.inner.inner().is_nullable(args, schema)
    }

    fn is_strict(&self) -> bool {
        self.inner.inner().is_strict()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        check(&format!("{}()", self.inner.name()), self.growth, self.cap, &args)?;
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // A simplification may call the function again (`concat` flattens nested calls):
        // those calls are checked too.
        Ok(match self.inner.inner().simplify(args, info)? {
            ExprSimplifyResult::Simplified(expr) => {
                let rewrite = CapFunctions::new(self.cap);
                ExprSimplifyResult::Simplified(expr.transform_up(|e| Ok(rewrite.cap(e, None)))?.data)
            }
            original => original,
        })
    }

    fn preimage(&self, args: &[Expr], lit_expr: &Expr, info: &SimplifyContext) -> Result<PreimageResult> {
        self.inner.inner().preimage(args, lit_expr, info)
    }

    fn conditional_arguments<'a>(&self, args: &'a [Expr]) -> Option<(Vec<&'a Expr>, Vec<&'a Expr>)> {
        self.inner.inner().conditional_arguments(args)
    }

    fn short_circuits(&self) -> bool {
        self.inner.inner().short_circuits()
    }

    fn evaluate_bounds(&self, input: &[&Interval]) -> Result<Interval> {
        self.inner.inner().evaluate_bounds(input)
    }

    fn propagate_constraints(&self, interval: &Interval, inputs: &[&Interval]) -> Result<Option<Vec<Interval>>> {
        self.inner.inner().propagate_constraints(interval, inputs)
    }

    fn struct_field_mapping(&self, literal_args: &[Option<ScalarValue>]) -> Option<StructFieldMapping> {
        self.inner.inner().struct_field_mapping(literal_args)
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.inner().output_ordering(inputs)
    }

    fn preserves_lex_ordering(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().preserves_lex_ordering(inputs)
    }

    fn strictly_order_preserving(&self, inputs: &[ExprProperties]) -> Result<bool> {
        self.inner.inner().strictly_order_preserving(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.inner().documentation()
    }

    fn placement(&self, args: &[ExpressionPlacement]) -> ExpressionPlacement {
        self.inner.inner().placement(args)
    }
}

/// `a || b` on text, checked: the operator's coercion, null for a null operand, and Arrow's
/// kernel, as DataFusion evaluates the operator.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConcatOperator {
    signature: Signature,
    cap: usize,
}

impl ConcatOperator {
    fn new(cap: usize) -> ConcatOperator {
        ConcatOperator { signature: Signature::user_defined(Volatility::Immutable), cap }
    }

    /// Whether `left || right` concatenates text (rather than, say, lists).
    fn applies(left: &Expr, right: &Expr, schema: &DFSchema) -> bool {
        let (Ok(left), Ok(right)) = (left.get_type(schema), right.get_type(schema)) else { return false };
        BinaryTypeCoercer::new(&left, &Operator::StringConcat, &right)
            .get_result_type()
            .is_ok_and(|t| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
    }
}

impl ScalarUDFImpl for ConcatOperator {
    fn name(&self) -> &str {
        "||"
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        match args {
            [left, right] => Ok(format!("{} || {}", left.schema_name(), right.schema_name())),
            _ => exec_err!("|| takes two operands"),
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [left, right] => {
                let (left, right) = BinaryTypeCoercer::new(left, &Operator::StringConcat, right).get_input_types()?;
                Ok(vec![left, right])
            }
            _ => exec_err!("|| takes two operands"),
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [left, right] => BinaryTypeCoercer::new(left, &Operator::StringConcat, right).get_result_type(),
            _ => exec_err!("|| takes two operands"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        check("||", Growth::Sum, self.cap, &args)?;
        let all_constant = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [left, right] = arrays.as_slice() else { return exec_err!("|| takes two operands") };
        let result = concat_elements_dyn(left, right)?;
        if all_constant {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}
