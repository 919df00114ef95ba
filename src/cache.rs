//! Released bodies kept in memory, by release key, so that a repeated query
//! is answered without reading the store or counting again.
//!
//! Only noisy bodies that were already released are kept, and a release key
//! names one body forever (it hashes the canonical query and the data
//! version; the noise is keyed by both). A miss is always safe: the release
//! is computed again, deterministically, and the charge uses the stored body
//! when one exists (another replica may have released it).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// A bounded map from release key to body; the oldest entry leaves first.
#[derive(Debug)]
pub struct ReleaseCache {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    bodies: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl ReleaseCache {
    pub fn new(capacity: usize) -> ReleaseCache {
        ReleaseCache {
            capacity,
            inner: Mutex::new(Entries::default()),
        }
    }

    pub fn get(&self, release_key: &str) -> Option<Arc<str>> {
        let entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        entries.bodies.get(release_key).cloned()
    }

    /// Keeps `body` as the release `release_key` (a body already kept stays).
    pub fn insert(&self, release_key: &str, body: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if entries.bodies.contains_key(release_key) {
            return;
        }
        while entries.order.len() >= self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.bodies.remove(&oldest);
            }
        }
        entries.order.push_back(release_key.to_owned());
        entries
            .bodies
            .insert(release_key.to_owned(), Arc::from(body));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_up_to_its_capacity() {
        let cache = ReleaseCache::new(2);
        cache.insert("a", "1");
        cache.insert("b", "2");
        cache.insert("a", "other");
        assert_eq!(cache.get("a").as_deref(), Some("1"));
        cache.insert("c", "3");
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("b").as_deref(), Some("2"));
        assert_eq!(cache.get("c").as_deref(), Some("3"));
        let off = ReleaseCache::new(0);
        off.insert("a", "1");
        assert_eq!(off.get("a"), None);
    }
}
