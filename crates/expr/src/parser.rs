//! The recursive-descent parser: one function per grammar rule (see the crate doc).

use crate::ast::{Column, Expr, Literal, Value};
use crate::error::{ParseError, ParseErrorKind, column_of};
use crate::lexer::{Keyword, Tok, Token, lex};
use crate::{MAX_DEPTH, MAX_EXPR_BYTES, MAX_IN_LIST};

pub(crate) fn parse(text: &str) -> Result<Expr, ParseError> {
    if text.len() > MAX_EXPR_BYTES {
        let mut at = MAX_EXPR_BYTES;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        return Err(ParseError::new(ParseErrorKind::TooLong { len: text.len(), max: MAX_EXPR_BYTES }, at, text));
    }
    let tokens = lex(text).map_err(|(kind, at)| ParseError::new(kind, at, text))?;
    let mut parser =
        Parser { text, end: Token { tok: Tok::End, start: text.len(), end: text.len() }, tokens, pos: 0, depth: 0 };
    if parser.peek().tok == Tok::End {
        return Err(parser.error(ParseErrorKind::Empty, 0));
    }
    let expr = parser.or_expr()?;
    if parser.peek().tok != Tok::End {
        return Err(parser.expected("AND, OR or the end of the expression"));
    }
    Ok(expr)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    /// Stands in for reading past the last token, so `peek` needs no index that could fail.
    end: Token,
    pos: usize,
    /// Parentheses and NOTs currently open; bounded so the recursion cannot exhaust the stack.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.end)
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.pos += 1;
        token
    }

    fn at_keyword(&self, keyword: Keyword) -> bool {
        self.peek().tok == Tok::Keyword(keyword)
    }

    fn error(&self, kind: ParseErrorKind, offset: usize) -> ParseError {
        ParseError::new(kind, offset, self.text)
    }

    /// An error at the next token saying what should have been there instead.
    fn expected(&self, expected: impl Into<String>) -> ParseError {
        let token = self.peek();
        let found = match &token.tok {
            Tok::End => "the end of the expression".to_owned(),
            Tok::Keyword(keyword) => keyword.upper().to_owned(),
            Tok::Ident(_) => format!("column {}", &self.text[token.start..token.end]),
            Tok::Number(number) => format!("the number {number}"),
            Tok::Text(_) => format!("the string {}", shorten(&self.text[token.start..token.end])),
            Tok::Op(_) | Tok::LParen | Tok::RParen | Tok::Comma => format!("'{}'", &self.text[token.start..token.end]),
        };
        self.error(ParseErrorKind::Expected { expected: expected.into(), found }, token.start)
    }

    fn enter(&mut self, offset: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(ParseErrorKind::TooDeep { max: MAX_DEPTH }, offset));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.and_expr()?;
        if !self.at_keyword(Keyword::Or) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.at_keyword(Keyword::Or) {
            self.next();
            items.push(self.and_expr()?);
        }
        Ok(Expr::Or(items))
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let first = self.not_expr()?;
        if !self.at_keyword(Keyword::And) {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.at_keyword(Keyword::And) {
            self.next();
            items.push(self.not_expr()?);
        }
        Ok(Expr::And(items))
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if !self.at_keyword(Keyword::Not) {
            return self.primary();
        }
        let not = self.next();
        self.enter(not.start)?;
        let inner = self.not_expr()?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let token = self.peek().clone();
        match token.tok {
            Tok::LParen => {
                self.next();
                self.enter(token.start)?;
                let inner = self.or_expr()?;
                if self.peek().tok != Tok::RParen {
                    let column = column_of(self.text, token.start);
                    return Err(self.expected(format!("AND, OR or ')' to close the '(' at column {column}")));
                }
                self.next();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Ident(name) => {
                self.next();
                self.test(Column { name, offset: token.start }, token.end)
            }
            Tok::Number(_) | Tok::Text(_) | Tok::Keyword(Keyword::True | Keyword::False) => {
                let value = self.value("a condition")?;
                let op = match self.peek().tok {
                    Tok::Op(op) => op,
                    _ => return Err(self.expected("a comparison operator (=, !=, <, <=, >, >=) after the value")),
                };
                let op_token = self.next();
                match self.peek().tok.clone() {
                    Tok::Ident(name) => {
                        let column = Column { name, offset: self.next().start };
                        Ok(Expr::Compare { column, op: op.mirrored(), value })
                    }
                    _ => {
                        Err(self
                            .expected(format!("a column name after '{}'", &self.text[op_token.start..op_token.end])))
                    }
                }
            }
            Tok::Keyword(Keyword::Null) => Err(self.error(ParseErrorKind::NullValue, token.start)),
            _ => Err(self.expected("a condition (a column name, NOT or '(')")),
        }
    }

    /// What follows a column name: a comparison, IN, BETWEEN, IS NULL, or nothing (a boolean
    /// column on its own).
    fn test(&mut self, column: Column, name_end: usize) -> Result<Expr, ParseError> {
        let token = self.peek().clone();
        match token.tok {
            Tok::Op(op) => {
                self.next();
                let value = self.value(&format!("a value after '{}'", &self.text[token.start..token.end]))?;
                Ok(Expr::Compare { column, op, value })
            }
            Tok::Keyword(Keyword::Not) => {
                self.next();
                match self.peek().tok {
                    Tok::Keyword(Keyword::In) => self.in_list(column, true),
                    Tok::Keyword(Keyword::Between) => self.between(column, true),
                    _ => Err(self.expected("IN or BETWEEN after NOT")),
                }
            }
            Tok::Keyword(Keyword::In) => self.in_list(column, false),
            Tok::Keyword(Keyword::Between) => self.between(column, false),
            Tok::Keyword(Keyword::Is) => {
                self.next();
                let negated = self.at_keyword(Keyword::Not);
                if negated {
                    self.next();
                }
                if !self.at_keyword(Keyword::Null) {
                    return Err(self.expected(if negated { "NULL after IS NOT" } else { "NULL or NOT NULL after IS" }));
                }
                self.next();
                Ok(Expr::IsNull { column, negated })
            }
            Tok::Keyword(Keyword::And | Keyword::Or) | Tok::RParen | Tok::End => Ok(Expr::Column(column)),
            _ => Err(self.expected(format!(
                "a comparison (=, !=, <, <=, >, >=, IN, BETWEEN, IS NULL) after column {}",
                &self.text[column.offset..name_end]
            ))),
        }
    }

    fn in_list(&mut self, column: Column, negated: bool) -> Result<Expr, ParseError> {
        self.next();
        if self.peek().tok != Tok::LParen {
            return Err(self.expected("'(' after IN"));
        }
        self.next();
        let mut values = vec![self.value("a value in the IN list")?];
        loop {
            match self.peek().tok {
                Tok::Comma => {
                    self.next();
                    let value = self.value("a value in the IN list")?;
                    if values.len() == MAX_IN_LIST {
                        return Err(self.error(ParseErrorKind::ListTooLong { max: MAX_IN_LIST }, value.offset));
                    }
                    values.push(value);
                }
                Tok::RParen => {
                    self.next();
                    return Ok(Expr::In { column, values, negated });
                }
                _ => return Err(self.expected("',' or ')' in the IN list")),
            }
        }
    }

    fn between(&mut self, column: Column, negated: bool) -> Result<Expr, ParseError> {
        self.next();
        let low = self.value("a value after BETWEEN")?;
        if !self.at_keyword(Keyword::And) {
            return Err(self.expected("AND between the two bounds of BETWEEN"));
        }
        self.next();
        let high = self.value("a value after BETWEEN ... AND")?;
        Ok(Expr::Between { column, low, high, negated })
    }

    /// A literal; `what` describes the expected value for the error if there is none.
    fn value(&mut self, what: &str) -> Result<Value, ParseError> {
        let token = self.peek().clone();
        let literal = match token.tok {
            Tok::Number(number) => Literal::Number(number),
            Tok::Text(text) => Literal::Text(text),
            Tok::Keyword(Keyword::True) => Literal::Bool(true),
            Tok::Keyword(Keyword::False) => Literal::Bool(false),
            Tok::Keyword(Keyword::Null) => return Err(self.error(ParseErrorKind::NullValue, token.start)),
            Tok::Ident(_) => {
                return Err(self.expected(format!(
                    "{what} (a number, a 'string', TRUE or FALSE: comparing two columns is not supported)"
                )));
            }
            _ => return Err(self.expected(what)),
        };
        self.next();
        Ok(Value { literal, offset: token.start })
    }
}

/// A string literal as quoted in the text, cut short if long.
fn shorten(quoted: &str) -> String {
    const MAX_CHARS: usize = 40;
    if quoted.chars().count() <= MAX_CHARS {
        quoted.to_owned()
    } else {
        let head: String = quoted.chars().take(MAX_CHARS).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::CmpOp;

    fn col(name: &str) -> Column {
        Column::new(name)
    }

    fn num(text: &str) -> Value {
        Value::new(Literal::Number(text.parse().unwrap()))
    }

    fn text(s: &str) -> Value {
        Value::new(Literal::Text(s.into()))
    }

    fn cmp(name: &str, op: CmpOp, value: Value) -> Expr {
        Expr::Compare { column: col(name), op, value }
    }

    fn ok(text: &str) -> Expr {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// The error's message (first line of its display) and byte offset.
    fn err(text: &str) -> (String, usize) {
        let e = parse(text).unwrap_err();
        (e.kind().to_string(), e.offset())
    }

    #[test]
    fn comparisons() {
        for (op_text, op) in [
            ("=", CmpOp::Eq),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            ("<>", CmpOp::Ne),
            ("<", CmpOp::Lt),
            ("<=", CmpOp::Le),
            (">", CmpOp::Gt),
            (">=", CmpOp::Ge),
        ] {
            assert_eq!(ok(&format!("width {op_text} 5")), cmp("width", op, num("5")));
            assert_eq!(ok(&format!("5{op_text}width")), cmp("width", op.mirrored(), num("5")));
        }
        assert_eq!(ok("caption = 'it''s'"), cmp("caption", CmpOp::Eq, text("it's")));
        assert_eq!(ok("caption = ''"), cmp("caption", CmpOp::Eq, text("")));
        assert_eq!(ok("caption = '日本語 \"q\"'"), cmp("caption", CmpOp::Eq, text("日本語 \"q\"")));
        assert_eq!(ok("flag = TRUE"), cmp("flag", CmpOp::Eq, Value::new(Literal::Bool(true))));
        assert_eq!(ok("flag != false"), cmp("flag", CmpOp::Ne, Value::new(Literal::Bool(false))));
    }

    #[test]
    fn numbers() {
        for (written, kept) in [
            ("5", "5"),
            ("-5", "-5"),
            ("0.5", "0.5"),
            ("-.5", "-0.5"),
            ("1e3", "1e3"),
            ("1.5E-3", "1.5e-3"),
            ("2.", "2.0"),
        ] {
            assert_eq!(ok(&format!("x > {written}")), cmp("x", CmpOp::Gt, num(kept)), "{written}");
        }
        assert_eq!(ok("x>-5"), cmp("x", CmpOp::Gt, num("-5")));
    }

    #[test]
    fn names_are_case_insensitive_unless_quoted() {
        assert_eq!(ok("WIDTH > 5"), cmp("width", CmpOp::Gt, num("5")));
        assert_eq!(ok("\"WIDTH\" > 5"), cmp("WIDTH", CmpOp::Gt, num("5")));
        assert_eq!(ok("\"odd name!\" > 5"), cmp("odd name!", CmpOp::Gt, num("5")));
        assert_eq!(ok("\"and\""), Expr::Column(col("and")));
        assert_eq!(ok("x_1 is null").columns(), ["x_1"]);
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(ok("a IS NULL and b Is Not Null"), ok("a is null AND b IS NOT NULL"));
        assert_eq!(ok("NoT a Or b"), ok("not a or b"));
    }

    #[test]
    fn in_between_and_null_tests() {
        assert_eq!(
            ok("x IN (1, 2.5, 'a')"),
            Expr::In { column: col("x"), values: vec![num("1"), num("2.5"), text("a")], negated: false }
        );
        assert_eq!(ok("x not in (1)"), Expr::In { column: col("x"), values: vec![num("1")], negated: true });
        assert_eq!(
            ok("x BETWEEN 1 AND 2"),
            Expr::Between { column: col("x"), low: num("1"), high: num("2"), negated: false }
        );
        assert_eq!(
            ok("x NOT BETWEEN 'a' AND 'b'"),
            Expr::Between { column: col("x"), low: text("a"), high: text("b"), negated: true }
        );
        assert_eq!(ok("x IS NULL"), Expr::IsNull { column: col("x"), negated: false });
        assert_eq!(ok("x IS NOT NULL"), Expr::IsNull { column: col("x"), negated: true });
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let a = || Expr::Column(col("a"));
        let b = || Expr::Column(col("b"));
        let c = || Expr::Column(col("c"));
        assert_eq!(ok("a OR b AND c"), Expr::Or(vec![a(), Expr::And(vec![b(), c()])]));
        assert_eq!(ok("a AND b OR c"), Expr::Or(vec![Expr::And(vec![a(), b()]), c()]));
        assert_eq!(ok("NOT a AND b"), Expr::And(vec![Expr::Not(Box::new(a())), b()]));
        assert_eq!(ok("NOT (a AND b)"), Expr::Not(Box::new(Expr::And(vec![a(), b()]))));
        assert_eq!(ok("a AND b AND c"), Expr::And(vec![a(), b(), c()]));
        assert_eq!(ok("(a AND b) AND c"), Expr::And(vec![Expr::And(vec![a(), b()]), c()]));
        assert_eq!(ok("NOT x = 1"), Expr::Not(Box::new(cmp("x", CmpOp::Eq, num("1")))));
        assert_eq!(
            ok("x BETWEEN 1 AND 2 AND a"),
            Expr::And(vec![Expr::Between { column: col("x"), low: num("1"), high: num("2"), negated: false }, a()])
        );
    }

    #[test]
    fn positions_are_recorded() {
        let Expr::Compare { column, value, .. } = ok("  width  >= 'x'") else { panic!() };
        assert_eq!((column.offset, value.offset), (2, 12));
        let Expr::Compare { column, value, .. } = ok("1 < \"w\"") else { panic!() };
        assert_eq!((column.offset, value.offset), (4, 0));
    }

    #[test]
    fn error_kinds_say_what_was_expected_and_where() {
        let cases: &[(&str, &str, usize)] = &[
            ("", "empty expression: expected a condition such as aesthetic >= 6", 0),
            ("   ", "empty expression: expected a condition such as aesthetic >= 6", 0),
            ("aesthetic >= AND x", "expected a value after '>=', found AND", 13),
            ("x >", "expected a value after '>', found the end of the expression", 3),
            (
                "x > y",
                "expected a value after '>' (a number, a 'string', TRUE or FALSE: comparing two columns is not supported), found column y",
                4,
            ),
            (
                "x = NULL",
                "NULL is not a value: write `column IS NULL` or `column IS NOT NULL` to test for missing values",
                4,
            ),
            (
                "x IN (1, NULL)",
                "NULL is not a value: write `column IS NULL` or `column IS NOT NULL` to test for missing values",
                9,
            ),
            (
                "NULL",
                "NULL is not a value: write `column IS NULL` or `column IS NOT NULL` to test for missing values",
                0,
            ),
            ("x = 'abc", "unterminated string: expected a closing '", 4),
            ("\"abc = 1", "unterminated quoted name: expected a closing \"", 0),
            ("\"\" = 1", "empty quoted name \"\"", 0),
            ("x = 1 ; drop", "unexpected character ';'", 6),
            ("x = 1e", "invalid number: expected a digit after the exponent 'e'", 6),
            ("x = 5and y", "invalid number: a number must be followed by a space, an operator, ',' or ')'", 5),
            ("x = 1.2.3", "invalid number: a number must be followed by a space, an operator, ',' or ')'", 7),
            ("x = -y", "unexpected character '-'", 4),
            ("x = -.y", "invalid number: expected a digit", 6),
            ("x = 1 y", "expected AND, OR or the end of the expression, found column y", 6),
            ("x = 1)", "expected AND, OR or the end of the expression, found ')'", 5),
            ("(x = 1", "expected AND, OR or ')' to close the '(' at column 1, found the end of the expression", 6),
            ("x = 1 AND", "expected a condition (a column name, NOT or '('), found the end of the expression", 9),
            ("AND x", "expected a condition (a column name, NOT or '('), found AND", 0),
            ("()", "expected a condition (a column name, NOT or '('), found ')'", 1),
            (
                "width 5",
                "expected a comparison (=, !=, <, <=, >, >=, IN, BETWEEN, IS NULL) after column width, found the number 5",
                6,
            ),
            ("x NOT LIKE 'a'", "expected IN or BETWEEN after NOT, found column LIKE", 6),
            ("x IS 5", "expected NULL or NOT NULL after IS, found the number 5", 5),
            ("x IS NOT 5", "expected NULL after IS NOT, found the number 5", 9),
            ("x IN 1", "expected '(' after IN, found the number 1", 5),
            ("x IN ()", "expected a value in the IN list, found ')'", 6),
            ("x IN (1 2)", "expected ',' or ')' in the IN list, found the number 2", 8),
            ("x IN (1,", "expected a value in the IN list, found the end of the expression", 8),
            ("x BETWEEN 1 OR 2", "expected AND between the two bounds of BETWEEN, found OR", 12),
            ("x BETWEEN AND 2", "expected a value after BETWEEN, found AND", 10),
            ("x BETWEEN 1 AND", "expected a value after BETWEEN ... AND, found the end of the expression", 15),
            ("5 > 'a'", "expected a column name after '>', found the string 'a'", 4),
            ("5 x", "expected a comparison operator (=, !=, <, <=, >, >=) after the value, found column x", 2),
            ("x = 'é' 'ü'", "expected AND, OR or the end of the expression, found the string 'ü'", 9),
        ];
        for &(text, message, offset) in cases {
            assert_eq!(err(text), (message.to_owned(), offset), "{text:?}");
        }
    }

    #[test]
    fn display_puts_a_caret_under_the_failure() {
        let e = parse("aesthetic >= AND x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a value after '>=', found AND at column 14:\n  aesthetic >= AND x\n               ^"
        );
        assert_eq!(e.column(), 14);
        let e = parse("caption = 'ü' AND").unwrap_err();
        assert_eq!((e.offset(), e.column()), (18, 18));
    }

    #[test]
    fn limits_are_refused_cleanly() {
        let long = format!("x = '{}'", "a".repeat(MAX_EXPR_BYTES));
        assert_eq!(
            err(&long),
            (format!("expression is {} bytes long; the limit is {MAX_EXPR_BYTES}", long.len()), MAX_EXPR_BYTES)
        );
        let long_multibyte = "é".repeat(MAX_EXPR_BYTES);
        assert_eq!(parse(&long_multibyte).unwrap_err().offset(), MAX_EXPR_BYTES);
        let just_fits = format!("x = '{}'", "a".repeat(MAX_EXPR_BYTES - 6));
        assert!(parse(&just_fits).is_ok());

        let deep = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&deep(MAX_DEPTH)).is_ok());
        assert_eq!(
            err(&deep(MAX_DEPTH + 1)),
            (format!("expression nests parentheses and NOT more than {MAX_DEPTH} deep"), MAX_DEPTH)
        );
        let nots = |n: usize| format!("{}x", "NOT ".repeat(n));
        assert!(parse(&nots(MAX_DEPTH)).is_ok());
        assert_eq!(err(&nots(MAX_DEPTH + 1)).1, 4 * MAX_DEPTH);
        // Depth is nesting, not count: many sibling groups are fine.
        assert!(parse(&vec!["(NOT (x))"; 1000].join(" OR ")).is_ok());
        // Far past the limits, still an error and no stack overflow.
        assert!(parse(&"(".repeat(60_000)).is_err());
        assert!(parse(&"NOT ".repeat(16_000)).is_err());

        let list = |n: usize| format!("x IN ({})", vec!["1"; n].join(","));
        assert!(parse(&list(MAX_IN_LIST)).is_ok());
        let too_long = list(MAX_IN_LIST + 1);
        assert_eq!(err(&too_long), (format!("IN list has more than {MAX_IN_LIST} values"), too_long.len() - 2));
    }

    #[test]
    fn long_chains_stay_flat() {
        let chain = vec!["x"; 13_000].join(" or ");
        let Expr::Or(items) = ok(&chain) else { panic!() };
        assert_eq!(items.len(), 13_000);
    }
}
