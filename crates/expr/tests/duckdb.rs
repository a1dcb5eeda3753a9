//! Differential test against DuckDB, the reference for what a filter means (nulls included).
//!
//! A seeded batch with the canonical columns and some extra ones, full of nulls and boundary
//! values, is written to parquet; a few hundred seeded random expressions are evaluated by
//! `BoundExpr` on the batch and by DuckDB on the file (through `Expr::to_sql`), and the sets
//! of matching rows must be identical. DuckDB runs in one python3 process for all queries.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float32Array, Float64Array, Int8Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use arrow::util::display::array_value_to_string;
use pairscope_expr::parse;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

const ROWS: usize = 2_000;
const EXPRESSIONS: usize = 400;
const SEED: u64 = 0x9a1f_5c09e;

/// Reads the parquet file into a table once, runs every query, prints a JSON list with the
/// matching `idx` values of each query (or `{"error": ...}`).
const DUCKDB_SCRIPT: &str = r#"
import json, sys, duckdb
spec = json.load(open(sys.argv[1]))
con = duckdb.connect()
con.execute("CREATE TABLE pairs AS SELECT * FROM read_parquet('%s')" % spec["path"].replace("'", "''"))
out = []
for where in spec["queries"]:
    try:
        rows = con.execute("SELECT idx FROM pairs WHERE " + where + " ORDER BY idx").fetchall()
        out.append([r[0] for r in rows])
    except Exception as e:
        out.append({"error": str(e)})
json.dump(out, sys.stdout)
"#;

#[test]
fn filters_match_duckdb() {
    let Some(python) = pairscope_testkit::duckdb_python() else { return };
    let mut rng = Pcg64::seed_from_u64(SEED);
    let batch = make_batch(&mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.parquet");
    write_parquet(&batch, &path);

    let columns: Vec<Col> = batch.schema().fields().iter().skip(1).map(|f| Col::new(f, &batch)).collect();
    let texts: Vec<String> = (0..EXPRESSIONS).map(|_| gen_expr(&mut rng, &columns, 0)).collect();
    let mut ours = Vec::new();
    let mut sqls = Vec::new();
    for text in &texts {
        let expr = parse(text).unwrap_or_else(|e| panic!("generated text does not parse:\n{e}"));
        assert_eq!(parse(&expr.to_string()).as_ref(), Ok(&expr), "canonical text of {text}");
        let bound = expr.bind(batch.schema().as_ref()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let matched = matching(&bound.evaluate(&batch).unwrap());
        // Arrow kernels on sliced arrays must agree with the whole batch.
        let (head, tail) = (batch.slice(0, 777), batch.slice(777, ROWS - 777));
        let mut pieces = matching(&bound.evaluate(&head).unwrap());
        pieces.extend(matching(&bound.evaluate(&tail).unwrap()).into_iter().map(|i| i + 777));
        assert_eq!(pieces, matched, "sliced evaluation of {text}");
        ours.push(matched);
        sqls.push(expr.to_sql());
    }

    let theirs = run_duckdb(&python, dir.path(), &path, &sqls);
    let mut failures = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let theirs: Vec<usize> = match &theirs[i] {
            serde_json::Value::Array(rows) => rows.iter().map(|r| r.as_u64().unwrap() as usize).collect(),
            error => panic!("DuckDB refused {}: {error}", sqls[i]),
        };
        if theirs != ours[i] {
            failures.push(explain(&batch, text, &sqls[i], &ours[i], &theirs));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {EXPRESSIONS} filters disagree with DuckDB:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The comparison only means something if most filters split the rows.
    let splitting = ours.iter().filter(|rows| !rows.is_empty() && rows.len() < ROWS).count();
    assert!(splitting * 2 > EXPRESSIONS, "only {splitting} of {EXPRESSIONS} filters split the rows");
}

fn matching(mask: &BooleanArray) -> Vec<usize> {
    (0..mask.len()).filter(|&i| mask.value(i)).collect()
}

fn run_duckdb(python: &Path, dir: &Path, parquet: &Path, sqls: &[String]) -> Vec<serde_json::Value> {
    let spec = dir.join("queries.json");
    let json = serde_json::json!({ "path": parquet.to_str().unwrap(), "queries": sqls });
    std::fs::write(&spec, json.to_string()).unwrap();
    let output = Command::new(python).args(["-c", DUCKDB_SCRIPT]).arg(&spec).output().unwrap();
    assert!(output.status.success(), "DuckDB script failed: {}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), sqls.len());
    results
}

/// A failure report: the filter and the rows on which the engines differ, with the values of
/// the columns it reads.
fn explain(batch: &RecordBatch, text: &str, sql: &str, ours: &[usize], theirs: &[usize]) -> String {
    let only_ours: Vec<usize> = ours.iter().copied().filter(|i| !theirs.contains(i)).collect();
    let only_theirs: Vec<usize> = theirs.iter().copied().filter(|i| !ours.contains(i)).collect();
    let names = parse(text).unwrap().columns();
    let show = |rows: &[usize]| -> String {
        rows.iter()
            .take(3)
            .map(|&row| {
                let values: Vec<String> = names
                    .iter()
                    .map(|n| format!("{n}={}", array_value_to_string(batch.column_by_name(n).unwrap(), row).unwrap()))
                    .collect();
                format!("\n      row {row}: {}", values.join(", "))
            })
            .collect()
    };
    format!(
        "  {text}\n    sql: {sql}\n    only ours ({}):{}\n    only DuckDB's ({}):{}",
        only_ours.len(),
        show(&only_ours),
        only_theirs.len(),
        show(&only_theirs)
    )
}

// ---- the data ----------------------------------------------------------------------------

const TEXTS: &[&str] = &[
    "",
    "en",
    "EN",
    "de",
    "fr",
    "a",
    "ab",
    "b",
    "B",
    "é",
    "日本語",
    "it's",
    "NSFW",
    "UNLIKELY",
    "UNSURE",
    "🙂",
    " ",
    "z",
    "cc-by",
    "example.com",
    "http://example.com/a.jpg",
    "a\"b",
];
const INT32S: &[i32] = &[0, 1, -1, 2, 5, 10, 100, 480, 512, 640, 1023, 1024, 1025, 2048, 4096, i32::MAX, i32::MIN];
const INT64S: &[i64] = &[0, 1, -1, 5, 1024, i64::MAX, i64::MIN, 9_007_199_254_740_993, 9_007_199_254_740_992, 1 << 40];
const FLOAT64S: &[f64] =
    &[0.5, 0.0, -0.0, 1.0, 0.25, 0.1, 0.3, 0.7, 5.0, 6.5, 10.0, 1e-9, f64::INFINITY, f64::NEG_INFINITY];
const FLOAT32S: &[f32] = &[0.5, 0.1, 0.0, -0.0, 1.0, 0.3, 2.5, 6.5, 0.25];

/// The canonical columns (as the model defines them), an `idx` to identify rows, and extra
/// columns of other types a dataset may carry.
fn schema() -> Schema {
    let mut fields = vec![Field::new("idx", DataType::Int64, false)];
    fields.extend(pairscope_model::columns::canonical_schema().fields().iter().map(|f| f.as_ref().clone()));
    fields.extend([
        Field::new("f32", DataType::Float32, true),
        Field::new("n64", DataType::Int64, true),
        Field::new("tiny", DataType::Int8, true),
        Field::new("u32", DataType::UInt32, true),
        Field::new("Odd Name", DataType::Utf8, true),
        Field::new("large_text", DataType::LargeUtf8, true),
        Field::new("view_text", DataType::Utf8View, true),
        Field::new("dict_text", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true),
    ]);
    Schema::new(fields)
}

fn make_batch(rng: &mut Pcg64) -> RecordBatch {
    let schema = Arc::new(schema());
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|field| {
            if field.name() == "idx" {
                return Arc::new(Int64Array::from_iter_values(0..ROWS as i64)) as ArrayRef;
            }
            let nulls: Vec<bool> = (0..ROWS).map(|_| field.is_nullable() && rng.random_bool(0.2)).collect();
            make_array(rng, field.name(), field.data_type(), &nulls)
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

/// Random values of `data_type`, half of them drawn from the boundary pools above; floats
/// are multiples of 1/1000 so their shortest decimal reads back to the same value in any engine.
fn make_array(rng: &mut Pcg64, name: &str, data_type: &DataType, nulls: &[bool]) -> ArrayRef {
    let text = |rng: &mut Pcg64| -> String {
        if rng.random_bool(0.6) {
            (*TEXTS.choose(rng).unwrap()).to_owned()
        } else {
            let len = rng.random_range(1..6);
            (0..len).map(|_| *['a', 'A', 'b', 'z', 'é', '日', ' ', '\'', '0'].choose(rng).unwrap()).collect()
        }
    };
    let present = |i: usize| !nulls[i];
    match data_type {
        DataType::Boolean => {
            Arc::new((0..ROWS).map(|i| present(i).then(|| rng.random_bool(0.5))).collect::<BooleanArray>())
        }
        DataType::Int8 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| {
                        if rng.random_bool(0.3) { *[-128, 127, 0, 5].choose(rng).unwrap() } else { rng.random() }
                    })
                })
                .collect::<Int8Array>(),
        ),
        DataType::Int32 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| {
                        if rng.random_bool(0.5) { *INT32S.choose(rng).unwrap() } else { rng.random_range(-100..5000) }
                    })
                })
                .collect::<Int32Array>(),
        ),
        DataType::Int64 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| match name {
                        "row_id" => rng.random_range(0..i64::MAX),
                        _ if rng.random_bool(0.5) => *INT64S.choose(rng).unwrap(),
                        _ => rng.random_range(-5000..5000),
                    })
                })
                .collect::<Int64Array>(),
        ),
        DataType::UInt32 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| {
                        if rng.random_bool(0.3) {
                            *[0, 1, u32::MAX, 1024].choose(rng).unwrap()
                        } else {
                            rng.random_range(0..3000)
                        }
                    })
                })
                .collect::<UInt32Array>(),
        ),
        DataType::Float64 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| match rng.random_range(0..10) {
                        0 => f64::NAN,
                        // NaN with the sign bit set, as x86 arithmetic produces it.
                        1 => f64::from_bits(0xfff8_0000_0000_0000),
                        2..=5 => *FLOAT64S.choose(rng).unwrap(),
                        _ => f64::from(rng.random_range(0..10_000)) / 1000.0,
                    })
                })
                .collect::<Float64Array>(),
        ),
        DataType::Float32 => Arc::new(
            (0..ROWS)
                .map(|i| {
                    present(i).then(|| match rng.random_range(0..10) {
                        0 => f32::NAN,
                        1..=4 => *FLOAT32S.choose(rng).unwrap(),
                        _ => rng.random_range(0..3000) as f32 / 1000.0,
                    })
                })
                .collect::<Float32Array>(),
        ),
        DataType::Utf8 => Arc::new((0..ROWS).map(|i| present(i).then(|| text(rng))).collect::<StringArray>()),
        DataType::LargeUtf8 => Arc::new((0..ROWS).map(|i| present(i).then(|| text(rng))).collect::<LargeStringArray>()),
        DataType::Utf8View => Arc::new((0..ROWS).map(|i| present(i).then(|| text(rng))).collect::<StringViewArray>()),
        DataType::Dictionary(_, _) => {
            let values: Vec<Option<String>> = (0..ROWS).map(|i| present(i).then(|| text(rng))).collect();
            Arc::new(values.iter().map(Option::as_deref).collect::<DictionaryArray<Int32Type>>())
        }
        other => panic!("no generator for {other}"),
    }
}

fn write_parquet(batch: &RecordBatch, path: &Path) {
    // Without statistics DuckDB cannot skip row groups, so what it returns depends on the row
    // values alone, as ours does.
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(500))
        .build();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

// ---- the expressions ---------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Float64,
    Float32,
    Text,
    Bool,
}

/// A column to write filters on, with literals worth comparing it with.
struct Col {
    name: String,
    kind: Kind,
    literals: Vec<String>,
}

impl Col {
    fn new(field: &Field, batch: &RecordBatch) -> Col {
        let kind = match field.data_type() {
            DataType::Int8 | DataType::Int32 | DataType::Int64 | DataType::UInt32 => Kind::Int,
            DataType::Float64 => Kind::Float64,
            DataType::Float32 => Kind::Float32,
            DataType::Boolean => Kind::Bool,
            _ => Kind::Text,
        };
        let fixed: &[&str] = match (kind, field.data_type()) {
            (Kind::Int, DataType::Int8) => &["0", "5", "127", "128", "-128", "-129", "1000", "126.5", "-0.5", "1e2"],
            (Kind::Int, DataType::UInt32) => &["0", "-1", "1024", "4294967295", "4294967296", "1023.5", "-0.5", "2e3"],
            (Kind::Int, DataType::Int64) => &[
                "0",
                "1",
                "-1",
                "1024",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "9007199254740992.0",
                "9007199254740993",
                "1099511627776",
                "2500.5",
            ],
            (Kind::Int, _) => &[
                "0",
                "1",
                "-1",
                "5",
                "480",
                "512",
                "640",
                "1023",
                "1023.5",
                "1024",
                "1024.0",
                "2048",
                "0.5",
                "-0.5",
                "1e3",
                "2.5e1",
                "2147483647",
                "2147483648",
                "-2147483648",
                "-2147483649",
                "99999999999",
                "4096.25",
            ],
            (Kind::Float64, _) => &[
                "0.5",
                "0",
                "-0",
                "0.0",
                "-0.0",
                "0.1",
                "0.3",
                "0.25",
                "1",
                "-1",
                "5",
                "6.5",
                "10",
                "1e-9",
                "1e308",
                "-1e308",
                "0.499",
                "0.5000001",
                ".5",
                "7",
            ],
            // Decimal spellings only: DuckDB reads an exponent literal as DOUBLE and compares a
            // FLOAT column with it in double precision, where we round every literal to Float32.
            (Kind::Float32, _) => &["0.5", "0.1", "0", "-0.0", "0.3", "1", "2.5", "6.5", "0.25", "2.999"],
            (Kind::Text, _) => &["e", "EN ", "ü", "aa", "日", "zz", "it's", "", "en", "B", "a\"b"],
            (Kind::Bool, _) => &[],
        };
        let mut literals: Vec<String> = fixed.iter().map(|s| literal_text(kind, s)).collect();
        // Values that occur in the data, so equality and bounds hit rows exactly.
        let array = batch.column_by_name(field.name()).unwrap();
        for row in (0..ROWS).step_by(97) {
            if array.is_valid(row) && kind != Kind::Bool {
                let shown = array_value_to_string(array, row).unwrap();
                if !matches!(kind, Kind::Float32 | Kind::Float64) || shown.parse::<f64>().is_ok_and(f64::is_finite) {
                    literals.push(literal_text(kind, &shown));
                }
                // Half-way to the neighbouring integer, and the same integer as a decimal: where
                // an integer column's exact comparison with a decimal can go wrong.
                if kind == Kind::Int {
                    literals.extend([format!("{shown}.5"), format!("{shown}.0")]);
                }
            }
        }
        Col { name: field.name().clone(), kind, literals }
    }

    /// The name as a user might type it: any case when it is a plain name, else quoted.
    fn spelled(&self, rng: &mut Pcg64) -> String {
        if self.name.contains(' ') || rng.random_bool(0.1) {
            format!("\"{}\"", self.name)
        } else if rng.random_bool(0.2) {
            self.name.to_uppercase()
        } else {
            self.name.clone()
        }
    }

    fn literal(&self, rng: &mut Pcg64) -> String {
        match self.kind {
            Kind::Bool => {
                let word = if rng.random_bool(0.5) { "TRUE" } else { "FALSE" };
                keyword(rng, word)
            }
            _ => self.literals.choose(rng).unwrap().clone(),
        }
    }
}

fn literal_text(kind: Kind, value: &str) -> String {
    match kind {
        Kind::Text => format!("'{}'", value.replace('\'', "''")),
        _ => value.to_owned(),
    }
}

/// A keyword in upper, lower or mixed case.
fn keyword(rng: &mut Pcg64, word: &str) -> String {
    match rng.random_range(0..3) {
        0 => word.to_uppercase(),
        1 => word.to_lowercase(),
        _ => word
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect(),
    }
}

fn gen_expr(rng: &mut Pcg64, columns: &[Col], depth: usize) -> String {
    if depth >= 3 || rng.random_bool(0.35) {
        return gen_leaf(rng, columns);
    }
    match rng.random_range(0..4) {
        0 => format!("{} {}", keyword(rng, "NOT"), gen_expr(rng, columns, depth + 1)),
        1 | 2 => {
            let word = if rng.random_bool(0.5) { "AND" } else { "OR" };
            let joiner = keyword(rng, word);
            let parts: Vec<String> = (0..rng.random_range(2..4)).map(|_| gen_expr(rng, columns, depth + 1)).collect();
            parts.join(&format!(" {joiner} "))
        }
        _ => format!("({})", gen_expr(rng, columns, depth + 1)),
    }
}

fn gen_leaf(rng: &mut Pcg64, columns: &[Col]) -> String {
    const OPS: &[&str] = &["=", "==", "!=", "<>", "<", "<=", ">", ">="];
    let column = columns.choose(rng).unwrap();
    let name = column.spelled(rng);
    let negate =
        |rng: &mut Pcg64| if rng.random_bool(0.3) { format!("{} ", keyword(rng, "NOT")) } else { String::new() };
    match rng.random_range(0..8) {
        0 if column.kind == Kind::Bool => name,
        0..=2 => format!("{name} {} {}", OPS.choose(rng).unwrap(), column.literal(rng)),
        3 => format!("{} {} {name}", column.literal(rng), OPS.choose(rng).unwrap()),
        4 | 5 => {
            let values: Vec<String> = (0..rng.random_range(1..6)).map(|_| column.literal(rng)).collect();
            format!("{name} {}{} ({})", negate(rng), keyword(rng, "IN"), values.join(", "))
        }
        6 => format!(
            "{name} {}{} {} {} {}",
            negate(rng),
            keyword(rng, "BETWEEN"),
            column.literal(rng),
            keyword(rng, "AND"),
            column.literal(rng)
        ),
        _ => format!("{name} {} {}{}", keyword(rng, "IS"), negate(rng), keyword(rng, "NULL")),
    }
}
