//! `host(url)`, `domain(url)` and `normalize(text [, fold_accents])`: pairscope's own
//! definitions as SQL functions, so `host(url) = host` holds on every stored row.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringBuilder};
use arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::DataFusionError;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use pairscope_model::web::{domain_of, host_of};
use pairscope_text::Normalizer;

/// Every function this crate adds to SQL.
pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(TextFunction::new("host", Kind::Host)),
        ScalarUDF::from(TextFunction::new("domain", Kind::Domain)),
        ScalarUDF::from(TextFunction::new("normalize", Kind::Normalize)),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `pairscope_model::web::host_of`.
    Host,
    /// The registrable domain of the URL's host, as ingest derives the `domain` column.
    Domain,
    /// `pairscope_text::normalize`, accent folding when the second argument is true.
    Normalize,
}

/// A text → text function, null for null input (and where the definition has no value, such
/// as a URL without a host).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TextFunction {
    name: &'static str,
    kind: Kind,
    signature: Signature,
}

impl TextFunction {
    fn new(name: &'static str, kind: Kind) -> TextFunction {
        let signature = match kind {
            Kind::Host | Kind::Domain => Signature::string(1, Volatility::Immutable),
            Kind::Normalize => Signature::one_of(
                [DataType::Utf8, DataType::LargeUtf8, DataType::Utf8View]
                    .into_iter()
                    .map(|text| TypeSignature::Exact(vec![text, DataType::Boolean]))
                    .chain([TypeSignature::String(1)])
                    .collect(),
                Volatility::Immutable,
            ),
        };
        TextFunction { name, kind, signature }
    }

    fn apply(&self, text: &ArrayRef, fold_accents: Option<&BooleanArray>) -> Result<ArrayRef> {
        let mut out = StringBuilder::with_capacity(text.len(), text.len() * 16);
        let mut normalizers = [Normalizer::new(false), Normalizer::new(true)];
        for (i, value) in strings(text)?.enumerate() {
            let Some(value) = value else {
                out.append_null();
                continue;
            };
            match self.kind {
                Kind::Host => out.append_option(host_of(value)),
                Kind::Domain => out.append_option(host_of(value).as_deref().and_then(domain_of)),
                Kind::Normalize => match fold_accents.map(|fold| fold.is_valid(i).then(|| fold.value(i))) {
                    Some(None) => out.append_null(),
                    Some(Some(fold)) => out.append_value(normalizers[usize::from(fold)].normalize(value)),
                    None => out.append_value(normalizers[0].normalize(value)),
                },
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

impl ScalarUDFImpl for TextFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let fold_accents =
            match arrays.get(1) {
                Some(fold) => Some(fold.as_boolean_opt().ok_or_else(|| {
                    DataFusionError::Execution(format!("{}: fold_accents must be a boolean", self.name))
                })?),
                None => None,
            };
        let Some(text) = arrays.first() else { return exec_err!("{} takes a text argument", self.name) };
        let result = self.apply(text, fold_accents)?;
        // Constant arguments give a constant, so the planner can fold `host('https://…')`.
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// The values of any Arrow text array (Utf8, LargeUtf8 or Utf8View, as DataFusion hands them
/// to a function).
pub fn strings(array: &ArrayRef) -> Result<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    Ok(match array.data_type() {
        DataType::Utf8 => Box::new(array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(array.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(array.as_string_view().iter()),
        other => return exec_err!("expected text, got {other}"),
    })
}
