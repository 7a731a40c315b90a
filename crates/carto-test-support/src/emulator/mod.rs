//! Emulators to test against: its HTTP API from a test ([`http`]), its binary as a child
//! process ([`child`]), a throwaway cluster with the SQL engine on it ([`sql`]), and an
//! emulator in a child process serving a bench ([`served`]).

pub mod child;
pub mod http;
pub mod served;
pub mod sql;
