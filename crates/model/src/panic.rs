//! The message of a caught panic, for the errors that replace panics at library boundaries.

/// The text a panic was raised with, or `"unknown panic"` when it carried something else.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}
