//! The QUERY parser, which reads whatever is typed into the web form's search box. Besides not
//! panicking: a refusal says why in words that never quote the text, points at a character of
//! it and renders; an accepted query keeps the caps, and each of its words, phrases and fields
//! points at where it was written; a query reads the same in parentheses and under NOT; and a
//! text past the length or clause cap is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pairscope_query::parse::{
    MAX_CLAUSES, MAX_DEPTH, MAX_QUERY_BYTES, ParseFailure, QUERY_FIELDS, QueryAst, parse_query,
};

fuzz_target!(|data: &[u8]| {
    // A form field and a command-line argument both reach the parser as a `&str`.
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_length_cap(text);
    let Some((ast, clauses)) = check(text) else { return };
    check_grouping(text, &ast);
    check_clause_cap(text, clauses);
});

/// Parses `text` and checks the outcome; an accepted, non-blank query's tree and clause count.
fn check(text: &str) -> Option<(QueryAst, usize)> {
    match parse_query(text) {
        Err(failure) => {
            check_failure(text, &failure);
            None
        }
        Ok(None) => {
            assert!(text.trim().is_empty(), "{text:?} read as blank");
            None
        }
        Ok(Some(ast)) => {
            assert!(text.len() <= MAX_QUERY_BYTES);
            let clauses = check_node(text, &ast, 0);
            assert!(clauses <= MAX_CLAUSES, "{clauses} clauses accepted");
            Some((ast, clauses))
        }
    }
}

fn check_failure(text: &str, failure: &ParseFailure) {
    assert_eq!(failure.text, text);
    // The server shows the message to whoever sent the query (crates/query/src/error.rs): a
    // link must not be able to make a page say anything, so every message is a fixed one.
    assert!(is_fixed_message(&failure.message), "message {:?} for {text:?}", failure.message);
    // The server and the caret count characters up to the offset.
    assert!(
        failure.offset <= text.len() && text.is_char_boundary(failure.offset),
        "offset {} of {} bytes: {}",
        failure.offset,
        text.len(),
        failure.message
    );
    let shown = failure.to_string();
    assert!(shown.starts_with(&failure.message), "{shown}");
    assert_eq!(shown.ends_with('^'), text.len() <= 200, "{shown}");
}

fn is_fixed_message(message: &str) -> bool {
    let fixed = [
        "unexpected text".to_string(),
        "unbalanced ')'".to_string(),
        "this '\"' is never closed".to_string(),
        "this '(' is never closed".to_string(),
        "a prefix needs at least one letter or digit before '*'".to_string(),
        "'*' is only allowed at the end of a word".to_string(),
        "expected a word, a phrase or '(' at the end of the query".to_string(),
        "expected a word, a phrase or '(' before this operator".to_string(),
        format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
        format!("the query nests deeper than {MAX_DEPTH} levels"),
        format!("the query has more than {MAX_CLAUSES} words, phrases and fields"),
    ];
    fixed.iter().any(|m| m == message)
        || QUERY_FIELDS.iter().any(|field| message == format!("expected a value after '{field}:'"))
}

/// Checks a node against the text it was read from; the words, phrases and fields under it.
fn check_node(text: &str, node: &QueryAst, nots: usize) -> usize {
    match node {
        QueryAst::Text { text: word, prefix, offset } => {
            let written = written_at(text, *offset);
            if let Some(phrase) = written.strip_prefix('"') {
                assert!(!prefix, "a prefix phrase at {offset}");
                assert!(!word.contains('"'));
                assert!(phrase.strip_prefix(word.as_str()).is_some_and(|rest| rest.starts_with('"')), "{node:?}");
            } else {
                assert!(!word.is_empty());
                assert!(!word.contains(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '*')), "{word:?}");
                // `NOT*` is the prefix `not`; `NOT` alone is the operator.
                assert!(*prefix || !["AND", "OR", "NOT"].contains(&word.as_str()), "keyword {word} read as a word");
                if let Some((name, _)) = word.split_once(':') {
                    assert!(
                        !QUERY_FIELDS.contains(&name.to_ascii_lowercase().as_str()),
                        "field {word:?} read as a word"
                    );
                }
                let rest = written.strip_prefix(word.as_str()).unwrap_or_else(|| panic!("{node:?} in {text:?}"));
                assert_eq!(rest.starts_with('*'), *prefix, "{node:?} in {text:?}");
            }
            1
        }
        QueryAst::Field { field, value, offset } => {
            assert!(QUERY_FIELDS.contains(&field.as_str()), "{field}");
            assert!(!value.is_empty());
            let written = written_at(text, *offset);
            let after = written
                .get(..field.len())
                .filter(|name| name.eq_ignore_ascii_case(field))
                .and_then(|_| written[field.len()..].strip_prefix(':'))
                .unwrap_or_else(|| panic!("{node:?} in {text:?}"));
            let quoted = after
                .strip_prefix('"')
                .is_some_and(|v| v.strip_prefix(value.as_str()).is_some_and(|r| r.starts_with('"')));
            assert!(after.starts_with(value.as_str()) || quoted, "{node:?} in {text:?}");
            1
        }
        QueryAst::And(items) | QueryAst::Or(items) => {
            assert!(items.len() >= 2, "{node:?}");
            items.iter().map(|item| check_node(text, item, nots)).sum()
        }
        QueryAst::Not(inner) => {
            assert!(nots < MAX_DEPTH, "NOT nested deeper than {MAX_DEPTH}");
            check_node(text, inner, nots + 1)
        }
    }
}

/// The text from `offset`, which must be a character of it.
fn written_at(text: &str, offset: usize) -> &str {
    assert!(offset < text.len() && text.is_char_boundary(offset), "offset {offset} in {text:?}");
    &text[offset..]
}

/// In parentheses, or under NOT, a query is the same tree (its offsets moved by what was put
/// in front), unless the extra level passes the depth cap. The spaces keep a trailing `-` a
/// word, as it was at the end of the text.
fn check_grouping(text: &str, ast: &QueryAst) {
    for (before, negated) in [("( ", false), ("NOT ( ", true)] {
        let grouped = format!("{before}{text} )");
        if grouped.len() > MAX_QUERY_BYTES {
            continue;
        }
        let inner = shifted(ast, before.len());
        let expected = if negated { QueryAst::Not(Box::new(inner)) } else { inner };
        match parse_query(&grouped) {
            Ok(Some(got)) => assert_eq!(got, expected, "{grouped:?}"),
            Err(failure) if failure.message.contains("deeper") => {}
            other => panic!("{grouped:?}: {other:?}, but {text:?} was {ast:?}"),
        }
    }
}

fn shifted(node: &QueryAst, by: usize) -> QueryAst {
    match node {
        QueryAst::Text { text, prefix, offset } => {
            QueryAst::Text { text: text.clone(), prefix: *prefix, offset: offset + by }
        }
        QueryAst::Field { field, value, offset } => {
            QueryAst::Field { field: field.clone(), value: value.clone(), offset: offset + by }
        }
        QueryAst::And(items) => QueryAst::And(items.iter().map(|item| shifted(item, by)).collect()),
        QueryAst::Or(items) => QueryAst::Or(items.iter().map(|item| shifted(item, by)).collect()),
        QueryAst::Not(inner) => QueryAst::Not(Box::new(shifted(inner, by))),
    }
}

/// Any text repeated past the byte cap is refused, with a failure that renders like any other.
fn check_length_cap(text: &str) {
    if text.is_empty() {
        return;
    }
    let long = text.repeat(MAX_QUERY_BYTES / text.len() + 1);
    let failure = parse_query(&long).expect_err("a query over the byte cap");
    assert_eq!(failure.message, format!("the query is longer than {MAX_QUERY_BYTES} bytes"));
    check_failure(&long, &failure);
}

/// An accepted query of `clauses` words, phrases and fields, grouped and repeated past the
/// clause cap (when that fits under the byte cap), is refused; unless the group itself nests
/// too deep, which the parser finds first.
fn check_clause_cap(text: &str, clauses: usize) {
    let group = format!("( {text} ) ");
    let copies = MAX_CLAUSES / clauses + 1;
    if group.len() * copies > MAX_QUERY_BYTES {
        return;
    }
    let failure = parse_query(&group.repeat(copies)).expect_err("a query over the clause cap");
    let over = [
        format!("the query has more than {MAX_CLAUSES} words, phrases and fields"),
        format!("the query nests deeper than {MAX_DEPTH} levels"),
    ];
    assert!(over.contains(&failure.message), "{failure:?}");
}
