//! Splits expression text into tokens, each with the byte range it came from.

use crate::ast::CmpOp;
use crate::error::ParseErrorKind;
use crate::number::{Number, NumberError};

/// The reserved words. Bare identifiers that spell one (in any case) are the keyword; a
/// column of that name must be written in double quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    In,
    Between,
    Is,
    Null,
    True,
    False,
}

impl Keyword {
    const ALL: [Keyword; 9] = [
        Keyword::And,
        Keyword::Or,
        Keyword::Not,
        Keyword::In,
        Keyword::Between,
        Keyword::Is,
        Keyword::Null,
        Keyword::True,
        Keyword::False,
    ];

    pub(crate) fn lower(self) -> &'static str {
        match self {
            Keyword::And => "and",
            Keyword::Or => "or",
            Keyword::Not => "not",
            Keyword::In => "in",
            Keyword::Between => "between",
            Keyword::Is => "is",
            Keyword::Null => "null",
            Keyword::True => "true",
            Keyword::False => "false",
        }
    }

    pub(crate) fn upper(self) -> &'static str {
        match self {
            Keyword::And => "AND",
            Keyword::Or => "OR",
            Keyword::Not => "NOT",
            Keyword::In => "IN",
            Keyword::Between => "BETWEEN",
            Keyword::Is => "IS",
            Keyword::Null => "NULL",
            Keyword::True => "TRUE",
            Keyword::False => "FALSE",
        }
    }

    /// The keyword a lower-case word spells, if any.
    pub(crate) fn from_lower(word: &str) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| k.lower() == word)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A column name: bare (lower-cased) or double-quoted (as written).
    Ident(String),
    Keyword(Keyword),
    Number(Number),
    Text(String),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte range in the source text.
    pub start: usize,
    pub end: usize,
}

/// Tokenises `text`; the last token is always [`Tok::End`]. On failure, what is wrong and
/// the byte offset where.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, (ParseErrorKind, usize)> {
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let rest = &text[at..];
        let next = rest[c.len_utf8()..].chars().next();
        let start = at;
        let tok = if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
            let word = rest[..len].to_ascii_lowercase();
            at += len;
            match Keyword::from_lower(&word) {
                Some(keyword) => Tok::Keyword(keyword),
                None => Tok::Ident(word),
            }
        } else if c.is_ascii_digit()
            || (c == '.' && next.is_some_and(|n| n.is_ascii_digit()))
            || (c == '-' && next.is_some_and(|n| n.is_ascii_digit() || n == '.'))
        {
            let (number, len) =
                Number::scan(rest).map_err(|(e, off)| (ParseErrorKind::InvalidNumber(e), start + off))?;
            at += len;
            // `5and` or `1.2.3` would otherwise split into tokens the user did not mean.
            if text[at..].starts_with(|n: char| n.is_alphanumeric() || n == '_' || n == '.' || n == '"' || n == '\'') {
                return Err((ParseErrorKind::InvalidNumber(NumberError::TrailingCharacters), at));
            }
            Tok::Number(number)
        } else if c == '\'' || c == '"' {
            let (value, len) = quoted(rest, c).ok_or(if c == '\'' {
                (ParseErrorKind::UnterminatedString, start)
            } else {
                (ParseErrorKind::UnterminatedName, start)
            })?;
            at += len;
            if c == '\'' {
                Tok::Text(value)
            } else if value.is_empty() {
                return Err((ParseErrorKind::EmptyName, start));
            } else {
                Tok::Ident(value)
            }
        } else {
            let (tok, len) = match (c, next) {
                ('(', _) => (Tok::LParen, 1),
                (')', _) => (Tok::RParen, 1),
                (',', _) => (Tok::Comma, 1),
                ('=', Some('=')) => (Tok::Op(CmpOp::Eq), 2),
                ('=', _) => (Tok::Op(CmpOp::Eq), 1),
                ('!', Some('=')) => (Tok::Op(CmpOp::Ne), 2),
                ('<', Some('>')) => (Tok::Op(CmpOp::Ne), 2),
                ('<', Some('=')) => (Tok::Op(CmpOp::Le), 2),
                ('<', _) => (Tok::Op(CmpOp::Lt), 1),
                ('>', Some('=')) => (Tok::Op(CmpOp::Ge), 2),
                ('>', _) => (Tok::Op(CmpOp::Gt), 1),
                _ => return Err((ParseErrorKind::UnexpectedChar(c), start)),
            };
            at += len;
            tok
        };
        tokens.push(Token { tok, start, end: at });
    }
    tokens.push(Token { tok: Tok::End, start: text.len(), end: text.len() });
    Ok(tokens)
}

/// Reads a literal quoted with `quote` at the start of `text` (a doubled quote stands for
/// one), returning its value and how many bytes it took, or `None` if it never closes.
fn quoted(text: &str, quote: char) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c != quote {
            value.push(c);
        } else if chars.peek().is_some_and(|&(_, n)| n == quote) {
            value.push(quote);
            chars.next();
        } else {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        lex(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn splits_every_kind_of_token() {
        assert_eq!(
            toks("Width>=-1.5e3 AND \"Odd \"\"Name\"\"\" <> 'it''s' , ( ) == != < <= > = TrUe"),
            vec![
                Tok::Ident("width".into()),
                Tok::Op(CmpOp::Ge),
                Tok::Number("-1.5e3".parse().unwrap()),
                Tok::Keyword(Keyword::And),
                Tok::Ident("Odd \"Name\"".into()),
                Tok::Op(CmpOp::Ne),
                Tok::Text("it's".into()),
                Tok::Comma,
                Tok::LParen,
                Tok::RParen,
                Tok::Op(CmpOp::Eq),
                Tok::Op(CmpOp::Ne),
                Tok::Op(CmpOp::Lt),
                Tok::Op(CmpOp::Le),
                Tok::Op(CmpOp::Gt),
                Tok::Op(CmpOp::Eq),
                Tok::Keyword(Keyword::True),
                Tok::End,
            ]
        );
    }

    #[test]
    fn ranges_are_byte_offsets() {
        let tokens = lex("é = 'ü'").unwrap_err();
        assert_eq!(tokens, (ParseErrorKind::UnexpectedChar('é'), 0));
        let tokens = lex("x = 'ü' ").unwrap();
        assert_eq!((tokens[2].start, tokens[2].end), (4, 8));
        assert_eq!((tokens[3].start, tokens[3].end), (9, 9));
    }

    #[test]
    fn minus_needs_a_digit() {
        assert_eq!(
            toks("x>-.5"),
            vec![Tok::Ident("x".into()), Tok::Op(CmpOp::Gt), Tok::Number("-0.5".parse().unwrap()), Tok::End]
        );
        assert_eq!(lex("x > - 5"), Err((ParseErrorKind::UnexpectedChar('-'), 4)));
    }
}
