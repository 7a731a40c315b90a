//! Traces captured into memory, and the canary checks: a canary token must show nowhere in
//! a text, an error or the error's sources.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything a subscriber made by [`Captured::subscriber`] writes.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// A subscriber of every level, without colours, writing here (for
    /// `tracing::subscriber::with_default` or `set_default`).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let out = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || out.clone())
            .finish()
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Panics when `text` (named `what`) holds `canary`.
#[track_caller]
pub fn assert_clean(canary: &str, what: &str, text: &str) {
    assert!(!text.contains(canary), "{what} leaks the token: {text}");
}

/// Panics when the Display or Debug of `err` or of any of its sources holds `canary`.
#[track_caller]
pub fn assert_error_clean(canary: &str, what: &str, err: &(dyn std::error::Error + 'static)) {
    let mut next = Some(err);
    while let Some(e) = next {
        assert_clean(canary, what, &e.to_string());
        assert_clean(canary, what, &format!("{e:?}"));
        next = e.source();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn captures_traces() {
        let c = Captured::default();
        tracing::subscriber::with_default(c.subscriber(), || tracing::info!(n = 7, "hello"));
        let text = c.text();
        assert!(text.contains("hello") && text.contains("n=7"), "{text}");
    }

    #[test]
    #[should_panic(expected = "leaks the token")]
    fn a_source_holding_the_canary_fails() {
        let err = Outer(std::io::Error::other("bad CANARY here"));
        assert_error_clean("CANARY", "error", &err);
    }

    #[test]
    fn a_clean_error_passes() {
        assert_error_clean("CANARY", "error", &Outer(std::io::Error::other("fine")));
    }
}
