//! The two shells that run the [attempt machine](crate::attempt): [`drive`] (blocking)
//! and [`drive_async`]. What one attempt sends and reads is an [`Exchange`] (buffered
//! in `send.rs`, streamed in `streaming/drive.rs`); the shells only follow the
//! machine's steps: send, read the error body, sleep, done.

use carto_core::Error;
use carto_core::retry::Stop;

use crate::attempt::{Attempts, Step};
use crate::transport::{AsyncTransport, Transport};

/// One kind of call, as the blocking shell drives it.
pub(crate) trait Exchange {
    /// What the call returns.
    type Answer;

    /// Builds and sends the next attempt and reports what came to `attempts`; `Some`
    /// when it is the call's answer at once (a 2xx streamed head).
    fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error>;

    /// Reads the next chunk, at most `room` bytes, of the failed response's body into
    /// `attempts`. A call without one ends it at once.
    fn read_error_body(&mut self, room: usize, attempts: &mut Attempts) -> Result<(), Error> {
        let _ = room;
        attempts.error_body(None);
        Ok(())
    }

    /// The answer once the machine stopped (`stop` says why).
    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error>;
}

/// One kind of call, as the async shell drives it: [`Exchange`] with `async` I/O.
pub(crate) trait AsyncExchange {
    /// What the call returns.
    type Answer;

    /// [`Exchange::send`].
    async fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error>;

    /// [`Exchange::read_error_body`].
    async fn read_error_body(&mut self, attempts: &mut Attempts) -> Result<(), Error> {
        attempts.error_body(None);
        Ok(())
    }

    /// [`Exchange::finish`].
    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error>;
}

/// Runs `exchange` under `attempts` until the machine is done; waits go through
/// [`Transport::sleep`].
pub(crate) fn drive<T, X>(
    transport: &T,
    mut attempts: Attempts,
    mut exchange: X,
) -> Result<X::Answer, Error>
where
    T: Transport + ?Sized,
    X: Exchange,
{
    loop {
        match attempts.step() {
            Step::Send => {
                if let Some(answer) = exchange.send(&mut attempts)? {
                    return Ok(answer);
                }
            }
            Step::ReadErrorBody(room) => exchange.read_error_body(room, &mut attempts)?,
            Step::Sleep(wait) => {
                attempts.trace_retry(wait);
                transport.sleep(wait);
                attempts.slept();
            }
            Step::Done(stop) => return exchange.finish(attempts, stop),
        }
    }
}

/// The async [`drive`]; waits go through [`AsyncTransport::sleep`], and a transport
/// without a timer stops at the first wait.
pub(crate) async fn drive_async<T, X>(
    transport: &T,
    mut attempts: Attempts,
    mut exchange: X,
) -> Result<X::Answer, Error>
where
    T: AsyncTransport + ?Sized,
    X: AsyncExchange,
{
    loop {
        match attempts.step() {
            Step::Send => {
                if let Some(answer) = exchange.send(&mut attempts).await? {
                    return Ok(answer);
                }
            }
            Step::ReadErrorBody(_) => exchange.read_error_body(&mut attempts).await?,
            Step::Sleep(wait) => match transport.sleep(wait) {
                Some(sleep) => {
                    attempts.trace_retry(wait);
                    sleep.await;
                    attempts.slept();
                }
                None => attempts.cannot_sleep(),
            },
            Step::Done(stop) => return exchange.finish(attempts, stop),
        }
    }
}
