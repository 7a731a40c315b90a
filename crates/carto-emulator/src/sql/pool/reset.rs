//! The reset of a used session before it is returned to the pool, as a value.

use crate::sql::role_settings::{TAMPER_CHECK, tampered};
use crate::sql::wire::DbError;

/// The statements that bring a used session back to its startup state: `DISCARD ALL`
/// (settings back to the session's startup ones, role, temporary tables, prepared statements,
/// cursors, advisory locks, `LISTEN`), after a `ROLLBACK` when the request left a transaction
/// open (`DISCARD ALL` cannot run in one), and with the look for role-level settings
/// ([`TAMPER_CHECK`]) when it is due. Each is a `Query` of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reset {
    /// A transaction may be open: roll it back first.
    pub(crate) rollback: bool,
    /// Look for role-level settings after the reset.
    pub(crate) look: bool,
}

impl Reset {
    /// The statements, in order (static: no allocation per request).
    pub(crate) fn statements(self) -> &'static [&'static str] {
        match (self.rollback, self.look) {
            (false, false) => &["DISCARD ALL"],
            (false, true) => &["DISCARD ALL", TAMPER_CHECK],
            (true, false) => &["ROLLBACK", "DISCARD ALL"],
            (true, true) => &["ROLLBACK", "DISCARD ALL", TAMPER_CHECK],
        }
    }
}

/// How a reset ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResetOutcome {
    /// Clean, ready for the next request.
    Clean,
    /// The look found role-level settings.
    Tampered,
    /// A statement failed or the session was lost.
    Failed,
}

impl ResetOutcome {
    /// The outcome of a reset whose statements all succeeded; the last result is the look's
    /// when `looked`.
    pub(crate) fn of(looked: bool, results: &[Result<Vec<Vec<Option<String>>>, DbError>]) -> Self {
        let found = looked
            && results
                .last()
                .is_some_and(|r| r.as_ref().is_ok_and(|rows| tampered(rows)));
        if found {
            ResetOutcome::Tampered
        } else {
            ResetOutcome::Clean
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_rolls_back_first_and_looks_last() {
        let r = |rollback, look| Reset { rollback, look }.statements();
        assert_eq!(r(false, false), ["DISCARD ALL"]);
        assert_eq!(r(false, true), ["DISCARD ALL", TAMPER_CHECK]);
        assert_eq!(r(true, false), ["ROLLBACK", "DISCARD ALL"]);
        assert_eq!(r(true, true), ["ROLLBACK", "DISCARD ALL", TAMPER_CHECK]);
    }
}
