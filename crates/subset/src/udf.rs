//! The SQL functions a subset or diff plan calls: removal reasons, compact row keys and
//! membership in a precomputed set of row ids.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, FixedSizeBinaryBuilder, StringBuilder};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use pairscope_sql::udf::strings;
use roaring::RoaringTreemap;
use xxhash_rust::xxh3::Xxh3;

use pairscope_lists::RemovalLists;

/// Bytes of a `pair_key` value.
pub const KEY_BYTES: i32 = 16;

/// `removal_reason(url, host, optout_noai, optout_noimageai, optout_tdm_reservation, DIGEST…)`:
/// the name of the first [`pairscope_lists::RemovalReason`] that removes the row, or null. The
/// digests are every hex digest of the row's image the version has (`image_sha256`, and the
/// `fetched_md5`, `fetched_sha1`, `fetched_sha256` of a fetch taken back).
#[derive(Debug)]
pub struct RemovalReasonUdf {
    lists: Arc<RemovalLists>,
    signature: Signature,
}

impl RemovalReasonUdf {
    pub(crate) const NAME: &'static str = "removal_reason";

    /// The call over the columns of the table `pairs`, whose schema is `schema`.
    pub fn call(schema: &arrow::datatypes::Schema) -> String {
        let digests: Vec<&str> = std::iter::once("image_sha256")
            .chain(pairscope_model::fetched::DIGEST_COLUMNS)
            .filter(|name| schema.field_with_name(name).is_ok())
            .collect();
        format!(
            "{}(url, host, optout_noai, optout_noimageai, optout_tdm_reservation, {})",
            Self::NAME,
            digests.join(", ")
        )
    }

    pub(crate) fn udf(lists: Arc<RemovalLists>) -> ScalarUDF {
        ScalarUDF::from(RemovalReasonUdf { lists, signature: Signature::variadic_any(Volatility::Immutable) })
    }
}

impl PartialEq for RemovalReasonUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.lists, &other.lists)
    }
}
impl Eq for RemovalReasonUdf {}
impl std::hash::Hash for RemovalReasonUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.lists).hash(state);
    }
}

impl ScalarUDFImpl for RemovalReasonUdf {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [url, host, noai, noimageai, tdm, digests @ ..] = arrays.as_slice() else {
            return exec_err!("removal_reason takes a url, a host, 3 flags and digests");
        };
        let rows = url.len();
        fn text(array: &ArrayRef, rows: usize) -> Result<Vec<Option<&str>>> {
            if array.data_type() == &DataType::Null { Ok(vec![None; rows]) } else { Ok(strings(array)?.collect()) }
        }
        let (urls, hosts) = (text(url, rows)?, text(host, rows)?);
        let digests = digests.iter().map(|d| text(d, rows)).collect::<Result<Vec<_>>>()?;
        let flags: Vec<Option<&BooleanArray>> = [noai, noimageai, tdm].iter().map(|f| f.as_boolean_opt()).collect();
        let mut out = StringBuilder::with_capacity(rows, 0);
        for i in 0..rows {
            let Some(url) = urls[i] else {
                out.append_null();
                continue;
            };
            let opted_out = flags.iter().flatten().any(|f| f.is_valid(i) && f.value(i));
            match self.lists.reason(url, hosts[i], digests.iter().filter_map(|d| d[i]), opted_out) {
                Some(reason) => out.append_value(reason.name()),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `pair_key(text, ...)`: a 128-bit XXH3 of its text arguments (each length-prefixed, so
/// ("ab", "c") and ("a", "bc") differ), null when any argument is null. Grouping and joining
/// on it needs 16 bytes a row instead of the whole URL and caption; two different keys collide
/// with probability about n² / 2¹²⁹ (≈ 10⁻²⁰ for five billion rows).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PairKeyUdf {
    signature: Signature,
}

impl PairKeyUdf {
    pub(crate) const NAME: &'static str = "pair_key";

    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::from(PairKeyUdf { signature: Signature::variadic_any(Volatility::Immutable) })
    }
}

impl ScalarUDFImpl for PairKeyUdf {
    fn name(&self) -> &str {
        Self::NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::FixedSizeBinary(KEY_BYTES))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rows = arrays.first().map_or(0, |a| a.len());
        let columns: Vec<Vec<Option<&str>>> =
            arrays.iter().map(|a| strings(a).map(Iterator::collect)).collect::<Result<_>>()?;
        let mut out = FixedSizeBinaryBuilder::with_capacity(rows, KEY_BYTES);
        let mut hasher = Xxh3::new();
        for i in 0..rows {
            hasher.reset();
            let mut null = false;
            for column in &columns {
                match column[i] {
                    Some(text) => {
                        hasher.update(&(text.len() as u64).to_le_bytes());
                        hasher.update(text.as_bytes());
                    }
                    None => null = true,
                }
            }
            if null {
                out.append_null();
            } else {
                out.append_value(hasher.digest128().to_le_bytes())?;
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `NAME(row_id)`: whether the row id is in a set computed before the plan ran (the rows a
/// QUERY matched, the rows dedup and sampling keep). A compressed bitmap: row ids of a block
/// are consecutive, so a set costs about a bit per row of the blocks it touches, not 8 bytes
/// a member.
#[derive(Debug)]
pub struct InRowsUdf {
    name: &'static str,
    rows: Arc<RoaringTreemap>,
    signature: Signature,
}

impl InRowsUdf {
    pub(crate) fn udf(name: &'static str, rows: Arc<RoaringTreemap>) -> ScalarUDF {
        ScalarUDF::from(InRowsUdf {
            name,
            rows,
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        })
    }
}

impl PartialEq for InRowsUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.rows, &other.rows)
    }
}
impl Eq for InRowsUdf {}
impl std::hash::Hash for InRowsUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        Arc::as_ptr(&self.rows).hash(state);
    }
}

impl ScalarUDFImpl for InRowsUdf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let Some(ids) = arrays.first().and_then(|a| a.as_primitive_opt::<Int64Type>()) else {
            return exec_err!("{} takes a row_id", self.name);
        };
        let set: BooleanArray =
            ids.iter().map(|id| Some(id.is_some_and(|id| id >= 0 && self.rows.contains(id as u64)))).collect();
        Ok(ColumnarValue::Array(Arc::new(set)))
    }
}
