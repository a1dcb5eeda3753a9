//! When a row's image may be unsafe: the one rule that `serve` blurs by and `fetch` skips by.
//!
//! LAION's links include unsafe and illegal images. A row is treated as unsafe when its
//! predicted `punsafe` is above a threshold (LAION's own cut, and the default, is 0.5) or its
//! LAION-5B NSFW label is anything but `UNLIKELY`. A row with neither value is not marked: the
//! rule can only act on what the metadata says.

/// The `punsafe` above which a row is unsafe unless told otherwise.
pub const DEFAULT_UNSAFE_THRESHOLD: f64 = 0.5;

/// Whether a row with these values may show an unsafe image: `punsafe` above `threshold`, or
/// an NSFW label other than `UNLIKELY` (compared case-insensitively).
pub fn is_unsafe(punsafe: Option<f64>, nsfw_label: Option<&str>, threshold: f64) -> bool {
    punsafe.is_some_and(|p| p > threshold) || nsfw_label.is_some_and(|l| !l.eq_ignore_ascii_case("UNLIKELY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_by_score_or_label() {
        let t = DEFAULT_UNSAFE_THRESHOLD;
        assert!(!is_unsafe(None, None, t));
        assert!(!is_unsafe(Some(0.5), Some("UNLIKELY"), t), "at the threshold is not above it");
        assert!(is_unsafe(Some(0.51), None, t));
        assert!(is_unsafe(None, Some("UNSURE"), t) && is_unsafe(None, Some("NSFW"), t));
        assert!(!is_unsafe(Some(0.1), Some("unlikely"), t));
        assert!(is_unsafe(Some(0.1), None, 0.0));
    }
}
