//! What the async [`Client`](crate::Client) and the blocking
//! [`blocking::Client`](crate::blocking::Client) share, written once.

/// The constructors, accessors, `Clone` and `Debug` of a facade `Client` wrapping a
/// `ClientCore<Arc<T>>` in a field `core`: `$feature` is the cargo feature of the
/// default backend `$backend`, `$bound` the transport trait.
macro_rules! facade_client {
    ($feature:literal, $backend:ident, $bound:ident) => {
        #[cfg(feature = $feature)]
        impl Client<carto_transport::$backend> {
            #[doc = concat!("A client for `credentials` on ", $feature, ", with the default options.")]
            pub fn new(credentials: Credentials) -> Result<Self, Error> {
                Self::with_options(credentials, ClientOptions::default())
            }

            #[doc = concat!("A client for `credentials` on ", $feature, ", with `options` (auth placement, user")]
            /// agent, timeouts, TLS).
            pub fn with_options(
                credentials: Credentials,
                options: ClientOptions,
            ) -> Result<Self, Error> {
                let transport =
                    carto_transport::$backend::with_config(options.transport.clone())?;
                Ok(Self::with_transport_and_options(
                    credentials,
                    transport,
                    &options,
                ))
            }

            /// A client for the credentials of the environment (`CARTO_BASE_URL` or
            /// `CARTO_USERNAME`, `CARTO_API_KEY`; see [`Credentials::from_env`]).
            pub fn from_env() -> Result<Self, Error> {
                Self::new(Credentials::from_env()?)
            }

            /// A client for the process default credentials ([`Credentials::set_default`]),
            /// else those of the default `creds.json` ([`Credentials::default_file_path`]).
            pub fn from_default() -> Result<Self, Error> {
                Self::new(crate::default_credentials()?)
            }
        }

        impl<T: $bound> Client<T> {
            /// A client for `credentials` sending through `transport`, with the default options
            /// (the key in the Basic header).
            pub fn with_transport(credentials: Credentials, transport: T) -> Self {
                Self::with_transport_and_options(credentials, transport, &ClientOptions::default())
            }

            /// A client for `credentials` sending through `transport`, with `options` (its
            /// transport settings are not used).
            pub fn with_transport_and_options(
                credentials: Credentials,
                transport: T,
                options: &ClientOptions,
            ) -> Self {
                Self {
                    core: ClientCore::new(Arc::new(transport), options.context(credentials)),
                }
            }

            /// The same client with another key of the same account (sharing the transport).
            pub fn with_token(&self, token: impl Into<Token>) -> Self {
                self.with_credentials(self.credentials().with_token(token))
            }

            /// The same client with other credentials (sharing the transport and options).
            pub fn with_credentials(&self, credentials: Credentials) -> Self {
                Self {
                    core: self.core.with_credentials(credentials),
                }
            }

            /// The credentials.
            pub fn credentials(&self) -> &Credentials {
                self.core.context().credentials()
            }

            /// The request context every call uses.
            pub fn context(&self) -> &RequestContext {
                self.core.context()
            }

            /// The transport.
            pub fn transport(&self) -> &T {
                self.core.transport()
            }

            /// The shared transport and a copy of the context, for an API client.
            fn parts(&self) -> (Arc<T>, RequestContext) {
                self.core.clone().into_parts()
            }
        }

        impl<T> Clone for Client<T> {
            fn clone(&self) -> Self {
                Self {
                    core: self.core.clone(),
                }
            }
        }

        impl<T> fmt::Debug for Client<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.fmt_debug("Client", f)
            }
        }
    };
}

pub(crate) use facade_client;
