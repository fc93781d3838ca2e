//! A shared, single-flight cache of one instance's `GET /domains`, kept current by the
//! operator's own writes.
//!
//! Concurrent readers share one in-flight request. A result is reused for a short TTL, or for
//! longer (up to a maximum age the caller names) while the instance's rate budget is all in
//! use, because then a re-read costs a write. Every write the operator makes is applied to the
//! cached list; a write made while a list request is in flight is also journaled and replayed
//! onto that list when it arrives, so a list that raced a create can never hide the created
//! domain (which would lead to a duplicate). The journal only lives as long as that request.
//!
//! Readers share one immutable list (`Arc`): a cache hit costs no copy, however many domains
//! the instance has. A write copies the list only while a reader still holds it, and then only
//! its pointers: the domains themselves are shared (`Arc<Domain>`), so at 10,000 domains a
//! write under a reader copies 80 KB instead of 90,000 strings. A list is let go once no caller
//! may use it any more, so an idle instance holds no copy, and when a re-read starts.

use super::{ClerkClient, ClerkError, Domain, SharedDomains};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
#[derive(Clone, Debug)]
enum Write {
    Upsert(Arc<Domain>),
    Remove(String),
}

#[derive(Default)]
struct Inner {
    /// When the cached list's request started, and the list.
    entry: Option<(Instant, SharedDomains)>,
    /// Lists whose request started before this are stale (an outcome we could not apply, such
    /// as a create whose answer was lost, happened after they were read).
    invalidated_at: Option<Instant>,
    /// When the list request in flight started, if one is.
    in_flight: Option<Instant>,
    /// Writes recorded while that request is in flight.
    journal: Vec<Write>,
}

/// The cache of one Clerk instance's domain list.
pub struct ListCache {
    ttl: Duration,
    keep: Duration,
    fetch: tokio::sync::Mutex<()>,
    inner: Arc<Mutex<Inner>>,
}

impl ListCache {
    /// A cache whose lists are reused for `ttl`, and kept for at most `keep` (the longest age
    /// any caller accepts, see [`get_within`](Self::get_within)).
    pub fn new(ttl: Duration, keep: Duration) -> Self {
        Self {
            ttl,
            keep: keep.max(ttl),
            fetch: tokio::sync::Mutex::new(()),
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    /// The cached list if younger than the TTL. The bool says whether it came from the cache.
    #[cfg(test)]
    pub async fn get(&self, client: &ClerkClient) -> Result<(SharedDomains, bool), ClerkError> {
        self.get_within(client, self.ttl).await
    }

    /// The cached list if younger than `max_age` (at most the `keep` given to [`new`](Self::new)),
    /// else a new one. The bool says whether it came from the cache.
    pub async fn get_within(
        &self,
        client: &ClerkClient,
        max_age: Duration,
    ) -> Result<(SharedDomains, bool), ClerkError> {
        let max_age = max_age.min(self.keep);
        if let Some(list) = self.fresh(max_age) {
            return Ok((list, true));
        }
        let _flight = self.fetch.lock().await;
        // Whoever held the lock may have just fetched.
        if let Some(list) = self.fresh(max_age) {
            return Ok((list, true));
        }
        let started = Instant::now();
        {
            let mut inner = self.inner.lock().unwrap();
            inner.in_flight = Some(started);
            // The cached list is older than this caller accepts, and every caller of the
            // instance accepts the same age at a time (its budget is busy or it is not): let it
            // go now rather than next to its successor, or a re-read holds two lists and a body
            // (about 12 MB at 10,000 domains). Callers arriving meanwhile wait for this request.
            inner.entry = None;
        }
        let result = client.list_domains().await;
        let mut inner = self.inner.lock().unwrap();
        inner.in_flight = None;
        let journal = std::mem::take(&mut inner.journal);
        // Kept for as long as the instance is busy: without the room a list read from JSON
        // leaves (up to twice the domains, and four CNAME targets for three).
        let mut list = result?.data;
        for d in &mut list {
            if let Some(targets) = Arc::get_mut(d).and_then(|d| d.cname_targets.as_mut()) {
                targets.shrink_to_fit();
            }
        }
        for w in &journal {
            apply(&mut list, w);
        }
        list.shrink_to_fit();
        let list = Arc::new(list);
        inner.entry = Some((started, list.clone()));
        drop(inner);
        self.release_when_too_old();
        Ok((list, false))
    }

    /// Let go of the cached list once it is older than any caller accepts (a newer list has its
    /// own timer), so that an idle instance holds no copy between resyncs.
    fn release_when_too_old(&self) {
        let (inner, keep) = (Arc::downgrade(&self.inner), self.keep);
        tokio::spawn(async move {
            tokio::time::sleep(keep).await;
            let Some(inner) = inner.upgrade() else { return };
            let mut inner = inner.lock().unwrap();
            if inner.entry.as_ref().is_some_and(|(at, _)| at.elapsed() >= keep) {
                inner.entry = None;
            }
        });
    }

    /// How long a list is reused when the caller names no longer age.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether a list is held.
    #[cfg(test)]
    pub fn holds_list(&self) -> bool {
        self.inner.lock().unwrap().entry.is_some()
    }

    fn fresh(&self, max_age: Duration) -> Option<SharedDomains> {
        let inner = self.inner.lock().unwrap();
        match &inner.entry {
            Some((at, list))
                if at.elapsed() < max_age && inner.invalidated_at.is_none_or(|inv| *at > inv) =>
            {
                Some(list.clone())
            }
            _ => None,
        }
    }

    /// Record a domain the operator created or updated.
    pub fn upsert(&self, d: &Domain) {
        self.record(Write::Upsert(Arc::new(d.clone())));
    }

    /// Record a domain the operator deleted (or found gone).
    pub fn remove(&self, id: &str) {
        self.record(Write::Remove(id.to_string()));
    }

    /// Forget the cached list (after an outcome we cannot apply, e.g. an ambiguous create).
    pub fn invalidate(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.entry = None;
        // Also a list in flight now: it may have been read before the outcome.
        inner.invalidated_at = Some(Instant::now());
    }

    fn record(&self, w: Write) {
        let mut inner = self.inner.lock().unwrap();
        if let Some((_, list)) = &mut inner.entry {
            apply(Arc::make_mut(list), &w);
        }
        if inner.in_flight.is_some() {
            inner.journal.push(w);
        }
    }
}

fn apply(list: &mut Vec<Arc<Domain>>, w: &Write) {
    match w {
        Write::Upsert(d) => match list.iter_mut().find(|x| x.id == d.id) {
            Some(x) => *x = d.clone(),
            None => list.push(d.clone()),
        },
        Write::Remove(id) => list.retain(|x| &x.id != id),
    }
}

#[cfg(test)]
mod tests;
