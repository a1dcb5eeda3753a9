//! The one type of a usage error, and how to recognise one anywhere in an error's chain.
//!
//! Each library error with a usage variant holds a [`UsageError`] as that variant's source, so
//! whoever reports an error (the CLI's exit code 2, the server's 400) asks [`is_usage`] of the
//! chain instead of knowing every library's error type.

use std::error::Error;
use std::fmt;

/// A request wrong in itself: a bad flag value, a QUERY or EXPR that does not parse, a name
/// list that does not read, a cursor from another query. The caller must change something;
/// the data and the machine are fine (exit code 2, HTTP 400).
#[derive(Debug)]
pub struct UsageError {
    message: String,
    cause: Option<Box<dyn Error + Send + Sync>>,
}

impl UsageError {
    /// A usage error saying `message`.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError { message: message.into(), cause: None }
    }

    /// A usage error saying what `cause` says, keeping `cause` as its source so a caller can
    /// still reach its detail (a parse failure's offset) with [`UsageError::cause`].
    pub fn because(cause: impl Error + Send + Sync + 'static) -> UsageError {
        UsageError { message: cause.to_string(), cause: Some(Box::new(cause)) }
    }

    /// What is wrong, for the person who sent the request.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The typed error this usage error was made [`because`](UsageError::because) of, if it is a `T`.
    pub fn cause<T: Error + 'static>(&self) -> Option<&T> {
        self.cause.as_deref().and_then(|cause| cause.downcast_ref::<T>())
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for UsageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause.as_deref().map(|cause| cause as &(dyn Error + 'static))
    }
}

/// Whether `error`, or any error in its chain of sources, is a [`UsageError`].
pub fn is_usage(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<UsageError>() {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(UsageError);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "outer: {}", self.0)
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_usage_error_is_found_anywhere_in_a_chain_and_keeps_its_typed_cause() {
        let parse = std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad token at 3");
        let outer = Outer(UsageError::because(parse));
        assert!(is_usage(&outer));
        assert_eq!(outer.0.message(), "bad token at 3");
        assert_eq!(outer.0.cause::<std::io::Error>().map(|e| e.kind()), Some(std::io::ErrorKind::InvalidInput));
        assert!(outer.0.cause::<fmt::Error>().is_none());
        assert!(!is_usage(&std::io::Error::other("disk full")));
    }
}
