//! A session checked out of the pool for one request.

use super::sessions::Ticket;
use crate::sql::wire::PgConn;

/// A session taken from the pool (or logged in for the request), ready for the request's SQL:
/// the connection, the [`Ticket`] holding its place under the session bounds (the session goes
/// back to the pool with it, or its permits are released when it is dropped), and the OIDs of
/// the spatial types of its database.
pub(crate) struct Lease {
    pub(crate) conn: PgConn,
    pub(crate) ticket: Ticket,
    pub(crate) spatial: Vec<(u32, &'static str)>,
}
