//! The sans-IO walk over every page of `GET /api/v3/api_keys`.
//!
//! The [`Pager`] says which page to request next and, given each answer, whether to go
//! on. The sync and async managers drive it with their transport; tests drive it with
//! plain values.

use carto_core::models::{ApiKey, ApiKeyPage};

use crate::endpoints::{ListApiKeys, ListOptions};

/// Why the [`Pager`] stopped.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The last page had no keys.
    EmptyPage,
    /// The last page had fewer keys than asked for, and no `next` link.
    ShortPage,
    /// As many keys as the server's `total` were seen.
    TotalReached,
    /// The page had no `next` link.
    NoNextLink,
    /// The page repeated the keys of the page before (a server ignoring `page`).
    RepeatedPage,
    /// The walk was ended by [`Pager::abort`] (a request failed).
    Aborted,
}

/// Walks the pages of a listing: [`next_request`](Self::next_request) gives the
/// request to send, [`handle`](Self::handle) takes the answer and returns its keys.
///
/// It stops on the first of: an empty page, a page shorter than `per_page` without a
/// `next` link, the server's `total` reached, a page without a `next` link, or a page
/// that repeats the previous one; so a server that lies about `total`, or ignores
/// `page`, cannot make it loop forever. A short page followed by a `next` link (a
/// server that caps `per_page`) does not stop the walk.
#[derive(Debug, Clone)]
pub struct Pager {
    options: ListOptions,
    page: u32,
    seen: u64,
    previous_names: Vec<String>,
    stopped: Option<StopReason>,
}

impl Pager {
    /// Starts at page 1.
    pub fn new(options: ListOptions) -> Self {
        Self {
            options,
            page: 1,
            seen: 0,
            previous_names: Vec::new(),
            stopped: None,
        }
    }

    /// The request for the next page, or `None` when the walk is over.
    pub fn next_request(&self) -> Option<ListApiKeys> {
        match self.stopped {
            Some(_) => None,
            None => Some(ListApiKeys::new(&self.options, self.page)),
        }
    }

    /// Takes the answer to the last [`next_request`](Self::next_request) and returns
    /// its keys; decides whether another page follows.
    pub fn handle(&mut self, page: ApiKeyPage) -> Vec<ApiKey> {
        if self.stopped.is_some() {
            return Vec::new();
        }
        let names: Vec<String> = page.result.iter().map(|k| k.name.clone()).collect();
        if self.page > 1 && !names.is_empty() && names == self.previous_names {
            // Nothing new: do not hand out the same keys twice.
            self.stopped = Some(StopReason::RepeatedPage);
            return Vec::new();
        }
        let count = page.result.len() as u64;
        self.seen += count;
        let short = count < u64::from(self.options.per_page);
        let next = page.links.next.is_some();
        self.stopped = if page.result.is_empty() {
            Some(StopReason::EmptyPage)
        } else if short && !next {
            Some(StopReason::ShortPage)
        } else if self.seen >= page.total {
            Some(StopReason::TotalReached)
        } else if !next {
            Some(StopReason::NoNextLink)
        } else {
            // A full page, or a short one the server says more pages follow (a server
            // capping `per_page`): go on; an empty or repeated page still stops.
            None
        };
        self.page = self.page.saturating_add(1);
        if self.page == u32::MAX {
            self.stopped.get_or_insert(StopReason::TotalReached);
        }
        self.previous_names = names;
        page.result
    }

    /// Ends the walk early (for example after a failed request).
    pub fn abort(&mut self) {
        self.stopped.get_or_insert(StopReason::Aborted);
    }

    /// Why the walk stopped, once it has.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stopped
    }

    /// The page [`next_request`](Self::next_request) asks for.
    pub fn page(&self) -> u32 {
        self.page
    }
}
