//! When to try again: exponential backoff with jitter, and the server's `Retry-After`.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The pause before retry number `retry` (0 for the first): `base * 2^retry`, plus a random
/// jitter of up to as much again, so clients that failed together do not return together.
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let pause = base.saturating_mul(1u32 << retry.min(16));
    let jitter = rand::rng().random_range(0.0..1.0);
    pause + pause.mul_f64(jitter)
}

/// The pause a `Retry-After` value asks for: delay-seconds or an HTTP date (in the past: none).
/// `None` for a value that is neither.
pub(crate) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_below_twice_the_pause() {
        let base = Duration::from_millis(100);
        for retry in 0..4 {
            let pause = backoff(base, retry);
            let floor = base * (1 << retry);
            assert!(pause >= floor && pause < floor * 2, "{retry}: {pause:?}");
        }
        assert!(backoff(Duration::from_secs(1), u32::MAX) >= Duration::from_secs(1 << 16));
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }
}
