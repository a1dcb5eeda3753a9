//! The expression tree, its canonical text (`Display`) and its SQL rendering.

use std::fmt::{self, Write};
use std::hash::{Hash, Hasher};

use crate::lexer::Keyword;
use crate::number::Number;

/// A filter expression.
///
/// `And` and `Or` hold two or more operands, in order; [`crate::parse`] never builds them
/// with fewer, and a nested `And` inside an `And` (or `Or` inside `Or`) stands for explicit
/// parentheses. Keeping chains flat rather than binary keeps every walk over the tree shallow
/// (the tree is as deep as the nesting, which the parser bounds), however long the chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A boolean column standing alone as a condition.
    Column(Column),
    /// `column op value`.
    Compare {
        /// The column compared.
        column: Column,
        /// How, with the column on the left.
        op: CmpOp,
        /// What it is compared with.
        value: Value,
    },
    /// `column [NOT] IN (values...)`.
    In {
        /// The column tested.
        column: Column,
        /// The values of the list, in written order (at least one).
        values: Vec<Value>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `column [NOT] BETWEEN low AND high`.
    Between {
        /// The column tested.
        column: Column,
        /// The lower bound, included.
        low: Value,
        /// The upper bound, included.
        high: Value,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `column IS [NOT] NULL`.
    IsNull {
        /// The column tested.
        column: Column,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `NOT expr`.
    Not(Box<Expr>),
    /// `a AND b AND ...`: two or more operands.
    And(Vec<Expr>),
    /// `a OR b OR ...`: two or more operands.
    Or(Vec<Expr>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `!=` (or `<>`).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// The canonical spelling (`!=` for not-equal).
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// The operator with its operands swapped: `5 < x` is `x > 5`.
    pub fn mirrored(self) -> CmpOp {
        match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Ne => CmpOp::Ne,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
        }
    }
}

/// A reference to a column. Equality and hashing ignore `offset`: two expressions that differ
/// only in where their parts stood in the source text are the same expression.
#[derive(Debug, Clone)]
pub struct Column {
    /// The name: lower-cased when it was written bare, as written when double-quoted.
    pub name: String,
    /// Byte offset of the name in the parsed text (0 for a built expression).
    pub offset: usize,
}

impl Column {
    /// A reference to the column `name`, as if written quoted at offset 0.
    pub fn new(name: impl Into<String>) -> Column {
        Column { name: name.into(), offset: 0 }
    }
}

impl PartialEq for Column {
    fn eq(&self, other: &Column) -> bool {
        self.name == other.name
    }
}

impl Eq for Column {}

impl Hash for Column {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// A number, kept exactly as written.
    Number(Number),
    /// A `'string'`, without its quotes and with `''` read as `'`.
    Text(String),
    /// `TRUE` or `FALSE`.
    Bool(bool),
}

/// A literal where it was written. Equality and hashing ignore `offset`, as for [`Column`].
#[derive(Debug, Clone)]
pub struct Value {
    /// The value.
    pub literal: Literal,
    /// Byte offset of the literal in the parsed text (0 for a built expression).
    pub offset: usize,
}

impl Value {
    /// The literal as if written at offset 0.
    pub fn new(literal: Literal) -> Value {
        Value { literal, offset: 0 }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.literal == other.literal
    }
}

impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.literal.hash(state);
    }
}

impl Expr {
    /// The columns the expression refers to, each once, in order of first appearance.
    pub fn columns(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.visit_columns(&mut |c| {
            if !names.contains(&c.name) {
                names.push(c.name.clone());
            }
        });
        names
    }

    fn visit_columns(&self, visit: &mut impl FnMut(&Column)) {
        match self {
            Expr::Column(column)
            | Expr::Compare { column, .. }
            | Expr::In { column, .. }
            | Expr::Between { column, .. }
            | Expr::IsNull { column, .. } => visit(column),
            Expr::Not(inner) => inner.visit_columns(visit),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| e.visit_columns(visit)),
        }
    }

    /// The expression as standard SQL for a `WHERE` clause: identifiers double-quoted,
    /// strings single-quoted with `''` escapes, numbers exactly as written, upper-case
    /// keywords, and parentheses wherever precedence could be read two ways.
    pub fn to_sql(&self) -> String {
        Rendered { expr: self, style: Style::Sql }.to_string()
    }
}

/// The canonical text: lower-case keywords, bare names where they parse back as the same
/// name (double-quoted otherwise), `!=`, single spaces, and only the parentheses the
/// structure needs. `parse(e.to_string()) == e` for every expression `parse` returns.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Rendered { expr: self, style: Style::Canonical }.fmt(f)
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_literal(f, self, Style::Canonical)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Canonical,
    Sql,
}

impl Style {
    fn keyword(self, keyword: Keyword) -> &'static str {
        match self {
            Style::Canonical => keyword.lower(),
            Style::Sql => keyword.upper(),
        }
    }
}

struct Rendered<'a> {
    expr: &'a Expr,
    style: Style,
}

impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = self.style;
        let kw = |k| style.keyword(k);
        let sub = |expr| Rendered { expr, style };
        match self.expr {
            Expr::Column(column) => write_name(f, &column.name, style),
            Expr::Compare { column, op, value } => {
                write_name(f, &column.name, style)?;
                let op = match (op, style) {
                    (CmpOp::Ne, Style::Sql) => "<>",
                    (op, _) => op.as_str(),
                };
                write!(f, " {op} ")?;
                write_literal(f, &value.literal, style)
            }
            Expr::In { column, values, negated } => {
                write_name(f, &column.name, style)?;
                if *negated {
                    write!(f, " {}", kw(Keyword::Not))?;
                }
                write!(f, " {} (", kw(Keyword::In))?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_literal(f, &value.literal, style)?;
                }
                f.write_char(')')
            }
            Expr::Between { column, low, high, negated } => {
                write_name(f, &column.name, style)?;
                if *negated {
                    write!(f, " {}", kw(Keyword::Not))?;
                }
                write!(f, " {} ", kw(Keyword::Between))?;
                write_literal(f, &low.literal, style)?;
                write!(f, " {} ", kw(Keyword::And))?;
                write_literal(f, &high.literal, style)
            }
            Expr::IsNull { column, negated } => {
                write_name(f, &column.name, style)?;
                write!(f, " {}", kw(Keyword::Is))?;
                if *negated {
                    write!(f, " {}", kw(Keyword::Not))?;
                }
                write!(f, " {}", kw(Keyword::Null))
            }
            Expr::Not(inner) => {
                // SQL engines agree that NOT binds looser than a comparison, but spelling the
                // operand out costs nothing and leaves no room for doubt.
                let wrap = style == Style::Sql || matches!(**inner, Expr::And(_) | Expr::Or(_));
                write!(f, "{} ", kw(Keyword::Not))?;
                write_wrapped(f, &sub(inner), wrap)
            }
            Expr::And(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", kw(Keyword::And))?;
                    }
                    write_wrapped(f, &sub(item), matches!(item, Expr::And(_) | Expr::Or(_)))?;
                }
                Ok(())
            }
            Expr::Or(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, " {} ", kw(Keyword::Or))?;
                    }
                    write_wrapped(f, &sub(item), matches!(item, Expr::Or(_)))?;
                }
                Ok(())
            }
        }
    }
}

fn write_wrapped(f: &mut fmt::Formatter<'_>, inner: &Rendered<'_>, wrap: bool) -> fmt::Result {
    if wrap { write!(f, "({inner})") } else { write!(f, "{inner}") }
}

fn write_name(f: &mut fmt::Formatter<'_>, name: &str, style: Style) -> fmt::Result {
    if style == Style::Canonical && is_bare_name(name) { f.write_str(name) } else { write_quoted(f, name, '"') }
}

/// Whether `name` reads back as itself when written without quotes.
fn is_bare_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && Keyword::from_lower(name).is_none()
}

fn write_literal(f: &mut impl Write, literal: &Literal, style: Style) -> fmt::Result {
    match literal {
        Literal::Number(number) => f.write_str(number.as_str()),
        Literal::Text(text) => write_quoted(f, text, '\''),
        Literal::Bool(true) => f.write_str(style.keyword(Keyword::True)),
        Literal::Bool(false) => f.write_str(style.keyword(Keyword::False)),
    }
}

fn write_quoted(f: &mut impl Write, text: &str, quote: char) -> fmt::Result {
    f.write_char(quote)?;
    for c in text.chars() {
        if c == quote {
            f.write_char(quote)?;
        }
        f.write_char(c)?;
    }
    f.write_char(quote)
}

#[cfg(test)]
mod tests {
    use crate::parse;

    fn canonical(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    fn sql(text: &str) -> String {
        parse(text).unwrap().to_sql()
    }

    #[test]
    fn canonical_text_is_normalised() {
        assert_eq!(canonical("  Aesthetic>=6.5   AND NOT(punsafe<>.5)"), "aesthetic >= 6.5 and not punsafe != 0.5");
        assert_eq!(canonical("a = 1 OR b = 2 AND c = 3"), "a = 1 or b = 2 and c = 3");
        assert_eq!(canonical("(a = 1 OR b = 2) AND c = 3"), "(a = 1 or b = 2) and c = 3");
        assert_eq!(canonical("a AND (b AND c)"), "a and (b and c)");
        assert_eq!(canonical("(a AND b) AND c"), "(a and b) and c");
        assert_eq!(canonical("((a))"), "a");
        assert_eq!(canonical("NOT (a OR b)"), "not (a or b)");
        assert_eq!(canonical("NOT NOT a"), "not not a");
        assert_eq!(canonical("0.5 < punsafe"), "punsafe > 0.5");
        assert_eq!(canonical("x NOT IN (1,2 , 3)"), "x not in (1, 2, 3)");
        assert_eq!(canonical("x NOT BETWEEN -1 AND 1E3"), "x not between -1 and 1e3");
        assert_eq!(canonical("x IS NOT NULL OR y IS NULL"), "x is not null or y is null");
        assert_eq!(canonical("flag = TRUE AND other == false"), "flag = true and other = false");
        assert_eq!(canonical("caption = 'it''s'"), "caption = 'it''s'");
    }

    #[test]
    fn names_are_quoted_only_when_needed() {
        assert_eq!(canonical("\"width\" > 1"), "width > 1");
        assert_eq!(canonical("\"Width\" > 1"), "\"Width\" > 1");
        assert_eq!(canonical("\"and\" > 1"), "\"and\" > 1");
        assert_eq!(canonical("\"1st\" > 1"), "\"1st\" > 1");
        assert_eq!(canonical("\"odd name\" > 1"), "\"odd name\" > 1");
        assert_eq!(canonical("\"say \"\"hi\"\"\" > 1"), "\"say \"\"hi\"\"\" > 1");
    }

    #[test]
    fn sql_quotes_everything_and_keeps_numbers() {
        assert_eq!(
            sql("aesthetic >= 6.50 and not (punsafe != 1e-3 or caption = 'it''s') and flag"),
            "\"aesthetic\" >= 6.50 AND NOT (\"punsafe\" <> 1e-3 OR \"caption\" = 'it''s') AND \"flag\""
        );
        assert_eq!(sql("not x is null"), "NOT (\"x\" IS NULL)");
        assert_eq!(
            sql("x not in ('a', 'b') or y not between 1 and 2 or z is not null or f = true"),
            "\"x\" NOT IN ('a', 'b') OR \"y\" NOT BETWEEN 1 AND 2 OR \"z\" IS NOT NULL OR \"f\" = TRUE"
        );
        assert_eq!(
            sql("\"Odd \"\"x\"\"\" < 123456789012345678901234567890"),
            "\"Odd \"\"x\"\"\" < 123456789012345678901234567890"
        );
    }

    #[test]
    fn columns_are_listed_once_in_order() {
        let expr = parse("b > 1 and (a is null or not b in (1)) and c between 1 and 2 and flag").unwrap();
        assert_eq!(expr.columns(), ["b", "a", "c", "flag"]);
    }

    #[test]
    fn equality_ignores_positions() {
        assert_eq!(parse("a=1").unwrap(), parse("   a   =   1").unwrap());
        assert_ne!(parse("a=1").unwrap(), parse("a=1.0").unwrap());
    }
}
