//! The two modes of a client: [`Blocking`] and [`Async`].
//!
//! Every carto-rs client is one struct per API with the mode as a type parameter
//! (`SqlApi<T, M>`, the facade's `CartoClient<T, M>`): its constructors, accessors and
//! `Debug` are written once for both modes, and each operation has a blocking method in
//! the `impl` for [`Blocking`] and an `async` one of the same name in the `impl` for
//! [`Async`]. The modes are sealed: no other crate adds one.

/// The mode of a client whose methods block the calling thread (over a
/// [`Transport`](crate::Transport)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Blocking;

/// The mode of a client whose methods are `async` (over an
/// [`AsyncTransport`](crate::AsyncTransport)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Async;

/// A client mode: [`Blocking`] or [`Async`]. Sealed.
pub trait Mode: sealed::Sealed + Copy + Default + Send + Sync + 'static {
    /// What the names of this mode's clients start with (`""` or `"Async"`), as in
    /// `SqlClient` and `AsyncSqlClient`: their `Debug` says which one it is.
    const PREFIX: &'static str;
}

impl Mode for Blocking {
    const PREFIX: &'static str = "";
}

impl Mode for Async {
    const PREFIX: &'static str = "Async";
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Blocking {}
    impl Sealed for super::Async {}
}
