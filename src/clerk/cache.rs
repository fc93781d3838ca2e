//! A shared, single-flight cache of one instance's `GET /domains`, kept current by the
//! operator's own writes.
//!
//! Concurrent readers share one in-flight request. A result is reused for a short TTL. Every
//! write the operator makes is applied to the cached list and journaled, and the journal is
//! replayed onto any list whose request started before the write finished, so a list that raced
//! a create can never hide the created domain (which would lead to a duplicate).
//!
//! Readers share one immutable list (`Arc`): a cache hit costs no copy, however many domains
//! the instance has; a write copies the list only while a reader still holds it.

use super::{ClerkClient, ClerkError, Domain};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long journaled writes are kept: longer than any request can take.
const JOURNAL_KEEP: Duration = Duration::from_secs(120);

#[derive(Clone, Debug)]
enum Write {
    Upsert(Domain),
    Remove(String),
}

#[derive(Default)]
struct Inner {
    /// When the cached list's request started, and the list.
    entry: Option<(Instant, Arc<Vec<Domain>>)>,
    /// Lists whose request started before this are stale (an outcome we could not apply, such
    /// as a create whose answer was lost, happened after they were read).
    invalidated_at: Option<Instant>,
    journal: Vec<(Instant, Write)>,
}

/// The cache of one Clerk instance's domain list.
pub struct ListCache {
    ttl: Duration,
    fetch: tokio::sync::Mutex<()>,
    inner: Mutex<Inner>,
}

impl ListCache {
    /// A cache whose lists are reused for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            fetch: tokio::sync::Mutex::new(()),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The cached list if younger than the TTL. The bool says whether it came from the cache.
    pub async fn get(&self, client: &ClerkClient) -> Result<(Arc<Vec<Domain>>, bool), ClerkError> {
        if let Some(list) = self.fresh() {
            return Ok((list, true));
        }
        let _flight = self.fetch.lock().await;
        // Whoever held the lock may have just fetched.
        if let Some(list) = self.fresh() {
            return Ok((list, true));
        }
        let started = Instant::now();
        let mut list = client.list_domains().await?.data;
        let mut inner = self.inner.lock().unwrap();
        inner.journal.retain(|(at, _)| at.elapsed() < JOURNAL_KEEP);
        for (at, w) in &inner.journal {
            if *at >= started {
                apply(&mut list, w);
            }
        }
        let list = Arc::new(list);
        inner.entry = Some((started, list.clone()));
        Ok((list, false))
    }

    fn fresh(&self) -> Option<Arc<Vec<Domain>>> {
        let inner = self.inner.lock().unwrap();
        match &inner.entry {
            Some((at, list))
                if at.elapsed() < self.ttl && inner.invalidated_at.is_none_or(|inv| *at > inv) =>
            {
                Some(list.clone())
            }
            _ => None,
        }
    }

    /// Record a domain the operator created or updated.
    pub fn upsert(&self, d: &Domain) {
        self.record(Write::Upsert(d.clone()));
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
        inner.journal.push((Instant::now(), w));
    }
}

fn apply(list: &mut Vec<Domain>, w: &Write) {
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
