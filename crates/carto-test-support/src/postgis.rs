//! The one PostGIS check of the tests. PostGIS is optional: without it a test that needs it
//! says on stderr (past the test harness's capture) what it skipped, and goes on or
//! returns. With
//! `CARTO_TEST_REQUIRE_POSTGIS=1` (CI sets it) a missing PostGIS fails the test instead, so
//! nothing is skipped silently where PostGIS is meant to be.

use std::io::Write as _;
use std::panic::Location;

/// The variable that turns a missing PostGIS into a failure.
pub const REQUIRE_POSTGIS: &str = "CARTO_TEST_REQUIRE_POSTGIS";

/// Whether the PostGIS part `what` of the calling test runs: `true` when `installed`.
/// Otherwise prints which test skipped `what` and returns `false`, or panics when
/// [`REQUIRE_POSTGIS`] is `1`.
///
/// ```ignore
/// if !postgis(emulator.has_postgis("alice"), "GeoJSON output") {
///     return;
/// }
/// ```
#[track_caller]
pub fn postgis(installed: bool, what: &str) -> bool {
    if installed {
        return true;
    }
    let at = Location::caller();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("an unnamed thread");
    let required = std::env::var_os(REQUIRE_POSTGIS).is_some_and(|v| v == "1");
    assert!(
        !required,
        "PostGIS is not installed and {REQUIRE_POSTGIS}=1: test {test} ({at}) needs it for {what}"
    );
    // Straight to stderr, not through `eprintln!`: the test harness captures that, and a
    // skip must show even when the test passes.
    let _ = writeln!(
        std::io::stderr(),
        "skipped without PostGIS: {what} (test {test}, {at})"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_runs() {
        assert!(postgis(true, "anything"));
    }

    #[test]
    fn missing_skips_or_fails_as_the_variable_says() {
        let required = std::env::var_os(REQUIRE_POSTGIS).is_some_and(|v| v == "1");
        let outcome = std::panic::catch_unwind(|| postgis(false, "a geometry"));
        match outcome {
            Ok(runs) => {
                assert!(!required);
                assert!(!runs);
            }
            Err(panic) => {
                assert!(required);
                let text = panic.downcast_ref::<String>().unwrap();
                assert!(text.contains("a geometry"), "{text}");
                assert!(text.contains("missing_skips_or_fails"), "{text}");
            }
        }
    }
}
