//! [`ImportsApi`]: the Import API and sync tables, blocking ([`ImportsClient`], over a
//! [`Transport`]) or async ([`AsyncImportsClient`], over an [`AsyncTransport`]); each
//! operation's two methods side by side.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::time::{Duration, Instant};

use carto_core::wait::{WaitOptions, Waiter, wait_async, wait_blocking};
use carto_core::{Credentials, Endpoint, Error};
use carto_transport::{
    Async, AsyncTransport, AsyncUpload, Blocking, Body, ClientCore, Mode, Transport, Upload,
};

use crate::endpoints::{
    CreateSync, DeleteSync, GetImport, GetSync, ImportFile, ImportUrl, ListImports, ListSyncs,
    SyncNow,
};
use crate::models::{Import, ImportOptions, ImportQueued, Sync};

/// The Import API and sync tables over `T`, blocking or async as `M` says: use it
/// through [`ImportsClient`] and [`AsyncImportsClient`]. Needs the master key.
pub struct ImportsApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// The Import API, blocking the calling thread.
pub type ImportsClient<T> = ImportsApi<T, Blocking>;

/// The Import API, asynchronously.
pub type AsyncImportsClient<T> = ImportsApi<T, Async>;

impl<T, M: Mode> ImportsApi<T, M> {
    /// A client sending through `core`.
    pub fn new(core: ClientCore<T>) -> Self {
        Self {
            core,
            mode: PhantomData,
        }
    }

    /// A client for `credentials` (the master key), with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(ClientCore::from_credentials(transport, credentials))
    }

    /// The core: transport and request context.
    pub fn core(&self) -> &ClientCore<T> {
        &self.core
    }
}

impl<T: Clone, M> Clone for ImportsApi<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

/// Shows the request context (never the key), not the transport.
impl<T, M: Mode> fmt::Debug for ImportsApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("ImportsClient", f)
    }
}

/// The file name CARTO sees: `path`'s last component.
fn file_name(path: &Path) -> Result<String, Error> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid("import file", "the path names no file"))
}

fn open_error(err: std::io::Error) -> Error {
    Error::invalid("import file", format!("cannot read the file: {err}"))
}

fn clock() -> impl FnMut() -> Duration {
    let start = Instant::now();
    move || start.elapsed()
}

fn url_import(url: &str, options: &ImportOptions) -> ImportUrl {
    ImportUrl {
        url: url.to_owned(),
        options: options.clone(),
    }
}

fn create_sync(url: &str, interval: Duration, options: &ImportOptions) -> CreateSync {
    CreateSync {
        url: url.to_owned(),
        interval: interval.as_secs(),
        options: options.clone(),
    }
}

impl<T: Transport> ImportsApi<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Uploads the file at `path` (streamed; opened again if the upload must be retried)
    /// with CARTO's defaults; the table is named after the file.
    pub fn import_file(&self, path: impl AsRef<Path>) -> Result<ImportQueued, Error> {
        self.import_file_with(path, &ImportOptions::new())
    }

    /// [`import_file`](Self::import_file) with options.
    pub fn import_file_with(
        &self,
        path: impl AsRef<Path>,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        let path = path.as_ref().to_owned();
        let filename = file_name(&path)?;
        std::fs::metadata(&path).map_err(open_error)?;
        let upload = Upload::rebuild(move || {
            let file = std::fs::File::open(&path).map_err(open_error)?;
            Ok(Body::from_reader(file))
        });
        self.import_upload(filename, options, upload)
    }

    /// Uploads what `reader` gives as a file named `filename` (sent once).
    pub fn import_reader(
        &self,
        filename: &str,
        reader: impl std::io::Read + Send + 'static,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        let upload = Upload::once(Body::from_reader(reader));
        self.import_upload(filename.to_owned(), options, upload)
    }

    fn import_upload(
        &self,
        filename: String,
        options: &ImportOptions,
        upload: Upload,
    ) -> Result<ImportQueued, Error> {
        let endpoint = ImportFile {
            filename,
            options: options.clone(),
        };
        let mut answer = self.core.send_streaming(&endpoint, Some(upload))?;
        answer
            .next()
            .unwrap_or_else(|| Err(Error::invalid("import", "the server answered nothing")))
    }

    /// Imports the file at `url` (CARTO downloads it) with CARTO's defaults.
    pub fn import_url(&self, url: &str) -> Result<ImportQueued, Error> {
        self.import_url_with(url, &ImportOptions::new())
    }

    /// [`import_url`](Self::import_url) with options.
    pub fn import_url_with(
        &self,
        url: &str,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        self.send(&url_import(url, options))
    }

    /// An import's state.
    pub fn import(&self, id: &str) -> Result<Import, Error> {
        self.send(&GetImport { id: id.to_owned() })
    }

    /// The ids of the imports still running.
    pub fn pending(&self) -> Result<Vec<String>, Error> {
        self.send(&ListImports)
    }

    /// Polls an import until it is final, with the default pacing: `Ok` when it made its
    /// table, [`Error::JobFailed`] with CARTO's error code and title otherwise.
    pub fn wait(&self, id: &str) -> Result<Import, Error> {
        self.wait_with(id, &WaitOptions::default())
    }

    /// [`wait`](Self::wait) with options.
    pub fn wait_with(&self, id: &str, options: &WaitOptions) -> Result<Import, Error> {
        let waiter = Waiter::new(id, *options);
        wait_blocking(waiter, |id| self.import(id), clock(), std::thread::sleep)
    }

    /// Creates a sync table of `url`, imported again every `interval` (at least 15
    /// minutes).
    pub fn create_sync(&self, url: &str, interval: Duration) -> Result<Sync, Error> {
        self.create_sync_with(url, interval, &ImportOptions::new())
    }

    /// [`create_sync`](Self::create_sync) with import options.
    pub fn create_sync_with(
        &self,
        url: &str,
        interval: Duration,
        options: &ImportOptions,
    ) -> Result<Sync, Error> {
        self.send(&create_sync(url, interval, options))
    }

    /// A sync table.
    pub fn sync(&self, id: &str) -> Result<Sync, Error> {
        self.send(&GetSync { id: id.to_owned() })
    }

    /// The user's sync tables.
    pub fn syncs(&self) -> Result<Vec<Sync>, Error> {
        self.send(&ListSyncs)
    }

    /// Runs a sync now; whether CARTO queued it.
    pub fn sync_now(&self, id: &str) -> Result<bool, Error> {
        self.send(&SyncNow { id: id.to_owned() })
    }

    /// Deletes a sync table (its table stays).
    pub fn delete_sync(&self, id: &str) -> Result<(), Error> {
        self.send(&DeleteSync { id: id.to_owned() })
    }
}

impl<T: AsyncTransport> ImportsApi<T, Async> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Uploads the file at `path`, read with tokio (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn import_file(&self, path: impl AsRef<Path>) -> Result<ImportQueued, Error> {
        self.import_file_with(path, &ImportOptions::new()).await
    }

    /// [`import_file`](Self::import_file) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn import_file_with(
        &self,
        path: impl AsRef<Path>,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        let path = path.as_ref().to_owned();
        let filename = file_name(&path)?;
        tokio::fs::metadata(&path).await.map_err(open_error)?;
        let upload = AsyncUpload::rebuild(move || {
            let path = path.clone();
            async move {
                let file = tokio::fs::File::open(&path).await.map_err(open_error)?;
                Ok(carto_transport::AsyncBody::from_async_read(file))
            }
        });
        self.import_upload(filename, options, upload).await
    }

    /// Uploads an async body as a file named `filename` (sent once).
    pub async fn import_body(
        &self,
        filename: &str,
        body: carto_transport::AsyncBody,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        let upload = AsyncUpload::once(body);
        self.import_upload(filename.to_owned(), options, upload)
            .await
    }

    async fn import_upload(
        &self,
        filename: String,
        options: &ImportOptions,
        upload: AsyncUpload,
    ) -> Result<ImportQueued, Error> {
        use futures_util::StreamExt;
        let endpoint = ImportFile {
            filename,
            options: options.clone(),
        };
        let mut answer = self
            .core
            .send_streaming_async(&endpoint, Some(upload))
            .await?;
        answer
            .next()
            .await
            .unwrap_or_else(|| Err(Error::invalid("import", "the server answered nothing")))
    }

    /// Imports the file at `url` with CARTO's defaults.
    pub async fn import_url(&self, url: &str) -> Result<ImportQueued, Error> {
        self.import_url_with(url, &ImportOptions::new()).await
    }

    /// [`import_url`](Self::import_url) with options.
    pub async fn import_url_with(
        &self,
        url: &str,
        options: &ImportOptions,
    ) -> Result<ImportQueued, Error> {
        self.send(&url_import(url, options)).await
    }

    /// An import's state.
    pub async fn import(&self, id: &str) -> Result<Import, Error> {
        self.send(&GetImport { id: id.to_owned() }).await
    }

    /// The ids of the imports still running.
    pub async fn pending(&self) -> Result<Vec<String>, Error> {
        self.send(&ListImports).await
    }

    /// Polls an import until it is final, sleeping with tokio (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn wait(&self, id: &str) -> Result<Import, Error> {
        self.wait_with(id, &WaitOptions::default()).await
    }

    /// [`wait`](Self::wait) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn wait_with(&self, id: &str, options: &WaitOptions) -> Result<Import, Error> {
        let waiter = Waiter::new(id, *options);
        let fetch = async |id: &str| self.import(id).await;
        wait_async(waiter, fetch, clock(), tokio::time::sleep).await
    }

    /// Creates a sync table of `url`, imported again every `interval`.
    pub async fn create_sync(&self, url: &str, interval: Duration) -> Result<Sync, Error> {
        self.create_sync_with(url, interval, &ImportOptions::new())
            .await
    }

    /// [`create_sync`](Self::create_sync) with import options.
    pub async fn create_sync_with(
        &self,
        url: &str,
        interval: Duration,
        options: &ImportOptions,
    ) -> Result<Sync, Error> {
        self.send(&create_sync(url, interval, options)).await
    }

    /// A sync table.
    pub async fn sync(&self, id: &str) -> Result<Sync, Error> {
        self.send(&GetSync { id: id.to_owned() }).await
    }

    /// The user's sync tables.
    pub async fn syncs(&self) -> Result<Vec<Sync>, Error> {
        self.send(&ListSyncs).await
    }

    /// Runs a sync now; whether CARTO queued it.
    pub async fn sync_now(&self, id: &str) -> Result<bool, Error> {
        self.send(&SyncNow { id: id.to_owned() }).await
    }

    /// Deletes a sync table (its table stays).
    pub async fn delete_sync(&self, id: &str) -> Result<(), Error> {
        self.send(&DeleteSync { id: id.to_owned() }).await
    }
}
