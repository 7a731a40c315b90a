//! The pool of logged-in PostgreSQL sessions, laid out by concern:
//!
//! - `sessions`: the idle sessions kept per (database, role), and the queue for them
//!   ([`Pool`], with the [`Ticket`] that carries a session's permits);
//! - `limits`: the bounds on the sessions opened ([`SessionLimits`]) and their permits;
//! - `guard`: a session checked out of the pool for one request ([`Lease`]);
//! - `reset`: what brings a used session back to a clean state before it is returned to the
//!   pool, as a value ([`Reset`]), and how it ended ([`ResetOutcome`]).

mod guard;
mod limits;
mod reset;
mod sessions;

pub(crate) use self::guard::Lease;
pub use self::limits::SessionLimits;
pub(crate) use self::reset::{Reset, ResetOutcome};
pub(crate) use self::sessions::{Pool, Ticket};
