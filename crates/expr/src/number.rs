//! Number literals. A number is kept as the text the user wrote (with two spellings tidied),
//! not as a float: SQL engines then see the same decimal, and an integer column can be
//! compared with it exactly rather than through a rounding.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A number literal: an optional minus, digits with an optional decimal point, an optional
/// exponent. `.5` is kept as `0.5`, `5.` as `5.0` and `1E+3` as `1e3`, so the text is also
/// valid SQL; otherwise the text is exactly what was written.
#[derive(Debug, Clone)]
pub struct Number {
    text: String,
    /// The nearest `f64`; computed once, for comparisons with Float64 columns.
    f64: f64,
    /// The nearest `f32`, rounded straight from the decimal (not through `f64`, which could
    /// round twice), for comparisons with Float32 columns.
    f32: f32,
}

/// Why a text is not a number literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// No digit where the number starts (a lone `-` or `.`).
    #[error("expected a digit")]
    NoDigits,
    /// An `e` without digits after it (`1e`, `1e+`).
    #[error("expected a digit after the exponent 'e'")]
    NoExponentDigits,
    /// The number runs into a letter or another character (`5x`).
    #[error("a number must be followed by a space, an operator, ',' or ')'")]
    TrailingCharacters,
}

/// Integers this far from zero are beyond every Arrow integer type, so a literal past them
/// compares with any integer column as if it were infinite; saturating there keeps the exact
/// arithmetic inside `i128`.
const SATURATED: i128 = 10_i128.pow(36);

/// Exponents are clamped here while reading them: any larger one already saturates, and the
/// clamp keeps the exponent arithmetic from overflowing on `1e99999999999999999999`.
const MAX_EXPONENT: i64 = 1_000_000;

impl Number {
    /// The literal's text, as written in SQL.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The nearest `f64` (an overflowing exponent gives ±infinity).
    pub fn to_f64(&self) -> f64 {
        self.f64
    }

    /// The nearest `f32`.
    pub fn to_f32(&self) -> f32 {
        self.f32
    }

    /// Reads the number at the start of `text`, returning it and how many bytes it took; on
    /// failure, what is wrong and the byte offset where.
    pub(crate) fn scan(text: &str) -> Result<(Number, usize), (NumberError, usize)> {
        let bytes = text.as_bytes();
        let digits_from = |start: usize| start + bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut normal = String::new();
        let mut at = 0;
        if bytes.first() == Some(&b'-') {
            normal.push('-');
            at = 1;
        }
        let int_end = digits_from(at);
        let int_digits = &text[at..int_end];
        at = int_end;
        let mut frac_digits = None;
        if bytes.get(at) == Some(&b'.') {
            let frac_end = digits_from(at + 1);
            frac_digits = Some(&text[at + 1..frac_end]);
            at = frac_end;
        }
        if int_digits.is_empty() && frac_digits.is_none_or(str::is_empty) {
            return Err((NumberError::NoDigits, at));
        }
        normal.push_str(if int_digits.is_empty() { "0" } else { int_digits });
        if let Some(frac) = frac_digits {
            normal.push('.');
            normal.push_str(if frac.is_empty() { "0" } else { frac });
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            normal.push('e');
            at += 1;
            match bytes.get(at) {
                Some(b'-') => {
                    normal.push('-');
                    at += 1;
                }
                Some(b'+') => at += 1,
                _ => {}
            }
            let exp_end = digits_from(at);
            if exp_end == at {
                return Err((NumberError::NoExponentDigits, at));
            }
            normal.push_str(&text[at..exp_end]);
            at = exp_end;
        }
        // Rust's float parsing reads every text built above (overflow gives infinity); an
        // error here would mean the scanner and it disagree, which the tests would catch.
        let f64 = normal.parse::<f64>().map_err(|_| (NumberError::NoDigits, at))?;
        let f32 = normal.parse::<f32>().map_err(|_| (NumberError::NoDigits, at))?;
        Ok((Number { text: normal, f64, f32 }, at))
    }

    /// The largest integer ≤ the value and the smallest ≥ it (equal when the value is an
    /// integer), saturated at ±10^36.
    pub(crate) fn floor_ceil(&self) -> (i128, i128) {
        let (negative, unsigned) = match self.text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, self.text.as_str()),
        };
        let (mantissa, exponent) = match unsigned.split_once('e') {
            Some((mantissa, exponent)) => (mantissa, read_exponent(exponent)),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = format!("{int}{frac}");
        let digits = all_digits.trim_start_matches('0');
        if digits.is_empty() {
            return (0, 0);
        }
        // value = digits × 10^scale
        let scale = exponent - frac.len() as i64;
        let len = digits.len() as i64;
        let (whole, has_fraction) = if scale >= 0 {
            if len + scale > 36 { (None, false) } else { (Some(read_int(digits) * 10_i128.pow(scale as u32)), false) }
        } else {
            let point = len + scale;
            if point <= 0 {
                (Some(0), true)
            } else {
                let (whole, fraction) = digits.split_at(point as usize);
                let whole = if whole.len() > 36 { None } else { Some(read_int(whole)) };
                (whole, fraction.bytes().any(|b| b != b'0'))
            }
        };
        let up = i128::from(has_fraction);
        match (whole, negative) {
            (None, false) => (SATURATED, SATURATED),
            (None, true) => (-SATURATED, -SATURATED),
            (Some(w), false) => (w, w + up),
            (Some(w), true) => (-(w + up), -w),
        }
    }
}

/// Reads an exponent's digits (with an optional minus), clamped to ±[`MAX_EXPONENT`].
fn read_exponent(text: &str) -> i64 {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let magnitude = digits.bytes().fold(0_i64, |acc, b| (acc * 10 + i64::from(b - b'0')).min(MAX_EXPONENT));
    if negative { -magnitude } else { magnitude }
}

/// Reads at most 36 decimal digits.
fn read_int(digits: &str) -> i128 {
    digits.bytes().fold(0_i128, |acc, b| acc * 10 + i128::from(b - b'0'))
}

impl FromStr for Number {
    type Err = NumberError;

    fn from_str(text: &str) -> Result<Number, NumberError> {
        match Number::scan(text) {
            Ok((number, len)) if len == text.len() => Ok(number),
            Ok(_) => Err(NumberError::TrailingCharacters),
            Err((error, _)) => Err(error),
        }
    }
}

// The text is the value (the floats are derived from it).
impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        self.text == other.text
    }
}

impl Eq for Number {}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Number {
        text.parse().unwrap()
    }

    #[test]
    fn spellings_are_tidied_but_values_kept() {
        for (written, kept) in [
            ("5", "5"),
            ("-5", "-5"),
            (".5", "0.5"),
            ("-.5", "-0.5"),
            ("5.", "5.0"),
            ("1E+3", "1e3"),
            ("2.50e-07", "2.50e-07"),
            ("007", "007"),
            ("123456789012345678901234567890", "123456789012345678901234567890"),
        ] {
            assert_eq!(num(written).as_str(), kept, "{written}");
        }
    }

    #[test]
    fn malformed_numbers_are_refused() {
        assert_eq!("".parse::<Number>(), Err(NumberError::NoDigits));
        assert_eq!("-".parse::<Number>(), Err(NumberError::NoDigits));
        assert_eq!(".".parse::<Number>(), Err(NumberError::NoDigits));
        assert_eq!("1e".parse::<Number>(), Err(NumberError::NoExponentDigits));
        assert_eq!("1e+".parse::<Number>(), Err(NumberError::NoExponentDigits));
        assert_eq!("1.2.3".parse::<Number>(), Err(NumberError::TrailingCharacters));
        assert_eq!("1x".parse::<Number>(), Err(NumberError::TrailingCharacters));
    }

    #[test]
    fn floats_are_nearest() {
        assert_eq!(num("0.1").to_f64(), 0.1);
        assert_eq!(num("0.1").to_f32(), 0.1_f32);
        assert_eq!(num("-2.5e3").to_f64(), -2500.0);
        assert_eq!(num("1e400").to_f64(), f64::INFINITY);
        assert_eq!(num("1e99999999999999999999").to_f64(), f64::INFINITY);
        assert_eq!(num("1e-99999999999999999999").to_f64(), 0.0);
    }

    #[test]
    fn floor_and_ceil_are_exact() {
        for (text, floor, ceil) in [
            ("0", 0, 0),
            ("-0.0", 0, 0),
            ("1023.5", 1023, 1024),
            ("-1023.5", -1024, -1023),
            ("1024", 1024, 1024),
            ("1024.000", 1024, 1024),
            ("1.024e3", 1024, 1024),
            ("10240e-1", 1024, 1024),
            ("1.0245e3", 1024, 1025),
            ("0.001", 0, 1),
            ("-0.001", -1, 0),
            ("5e-1000000000", 0, 1),
            ("9223372036854775807", 9_223_372_036_854_775_807, 9_223_372_036_854_775_807),
            ("9223372036854775807.5", 9_223_372_036_854_775_807, 9_223_372_036_854_775_808),
            ("18446744073709551616", 18_446_744_073_709_551_616, 18_446_744_073_709_551_616),
        ] {
            assert_eq!(num(text).floor_ceil(), (floor, ceil), "{text}");
        }
        assert_eq!(num("1e40").floor_ceil(), (SATURATED, SATURATED));
        assert_eq!(num("-1e99999999999").floor_ceil(), (-SATURATED, -SATURATED));
        assert_eq!(num("1234567890123456789012345678901234567890.5").floor_ceil(), (SATURATED, SATURATED));
    }
}
