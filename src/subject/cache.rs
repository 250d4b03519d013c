//! Per-worker match result cache (no locks; one per worker thread and account).
use std::collections::HashMap;
use std::sync::Arc;

use super::result::SubResult;
use super::sublist::Sublist;

/// How many hits are counted locally before they are added to the sublist's stats.
const HIT_FLUSH: u64 = 1024;

/// Subject → match result, valid while the `Sublist` generation is unchanged.
///
/// When the generation moves (any SUB/UNSUB) the whole cache is cleared on the next
/// lookup. Bounded: when full, the oldest inserted subject is evicted (FIFO ring).
/// A hit performs no allocation: the map is keyed by `Arc<[u8]>` and looked up with
/// the borrowed `&[u8]`.
#[derive(Debug)]
pub struct MatchCache {
    map: HashMap<Arc<[u8]>, Arc<SubResult>, ahash::RandomState>,
    /// Keys in insertion order; `next` is the slot to overwrite when full.
    ring: Vec<Arc<[u8]>>,
    next: usize,
    capacity: usize,
    generation: u64,
    /// Id of the sublist the entries came from (0 = none yet).
    list_id: u64,
    hits: u64,
    misses: u64,
    unflushed_hits: u64,
    /// The last subject looked up and its result: publishers tend to repeat a
    /// subject, and one comparison is cheaper than hashing it (measured: the map
    /// lookup was 30% of a worker's time on single-subject ingest).
    last_key: Vec<u8>,
    last: Arc<SubResult>,
    last_valid: bool,
}

impl MatchCache {
    /// A cache holding at most `capacity` subjects (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        MatchCache {
            map: HashMap::with_capacity_and_hasher(capacity, ahash::RandomState::new()),
            ring: Vec::with_capacity(capacity),
            next: 0,
            capacity,
            generation: 0,
            list_id: 0,
            hits: 0,
            misses: 0,
            unflushed_hits: 0,
            last_key: Vec::new(),
            last: Arc::new(SubResult::default()),
            last_valid: false,
        }
    }

    /// Cached result for `subject`, valid while `list`'s generation is unchanged; on a
    /// miss, match and insert.
    pub fn lookup(&mut self, list: &Sublist, subject: &[u8]) -> Arc<SubResult> {
        self.lookup_ref(list, subject).clone()
    }

    /// Like `lookup`, but borrows the result: no reference-count traffic on the hot
    /// path (an `Arc` clone and drop per message were measurable).
    pub fn lookup_ref(&mut self, list: &Sublist, subject: &[u8]) -> &Arc<SubResult> {
        // Read the generation before matching: a change racing with the match bumps it
        // past this value, so the entry is dropped on the next lookup.
        let generation = list.generation();
        if generation != self.generation || list.id() != self.list_id {
            self.clear();
            self.generation = generation;
            self.list_id = list.id();
        }
        if self.last_valid && self.last_key == subject {
            self.count_hit(list);
        } else if let Some(r) = self.map.get(subject).cloned() {
            self.remember(subject, r);
            self.count_hit(list);
        } else {
            self.misses += 1;
            self.flush_stats(list);
            let result = list.match_subject(subject);
            if self.capacity > 0 {
                self.insert(subject, result.clone());
                self.remember(subject, result);
            } else {
                // Caching disabled: hand out this result without keeping it.
                self.last = result;
                self.last_valid = false;
            }
        }
        &self.last
    }

    #[inline]
    fn count_hit(&mut self, list: &Sublist) {
        self.hits += 1;
        self.unflushed_hits += 1;
        if self.unflushed_hits >= HIT_FLUSH {
            self.flush_stats(list);
        }
    }

    fn remember(&mut self, subject: &[u8], result: Arc<SubResult>) {
        self.last_key.clear();
        self.last_key.extend_from_slice(subject);
        self.last = result;
        self.last_valid = true;
    }

    fn insert(&mut self, subject: &[u8], result: Arc<SubResult>) {
        let key: Arc<[u8]> = Arc::from(subject);
        if self.ring.len() < self.capacity {
            self.ring.push(key.clone());
        } else {
            let old = std::mem::replace(&mut self.ring[self.next], key.clone());
            self.map.remove(&old);
            self.next = (self.next + 1) % self.capacity;
        }
        self.map.insert(key, result);
    }

    /// Drops every entry (keeps the allocated capacity).
    pub fn clear(&mut self) {
        self.last_valid = false;
        if self.map.is_empty() {
            return;
        }
        self.map.clear();
        self.ring.clear();
        self.next = 0;
    }

    /// Adds the hits not yet reported to `list`'s stats.
    pub fn flush_stats(&mut self, list: &Sublist) {
        list.record_cache_hits(self.unflushed_hits);
        self.unflushed_hits = 0;
    }

    pub fn hits(&self) -> u64 {
        self.hits
    }

    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// Cached subjects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::sub::{ConnRef, Subscription};

    fn sub(subject: &str) -> Arc<Subscription> {
        let owner = ConnRef {
            worker: 0,
            slot: 0,
            cid: 1,
        };
        Arc::new(Subscription::new(subject.as_bytes(), None, b"1", owner))
    }

    #[test]
    fn hit_miss_and_invalidation() {
        let list = Sublist::new();
        let a = sub("foo.*");
        list.insert(a.clone()).expect("valid");
        let mut c = MatchCache::new(8);
        let r1 = c.lookup(&list, b"foo.bar");
        assert_eq!(r1.psubs.len(), 1);
        let r2 = c.lookup(&list, b"foo.bar");
        assert!(Arc::ptr_eq(&r1, &r2));
        assert_eq!((c.hits(), c.misses()), (1, 1));

        // A new sub invalidates the cached result.
        let b = sub("foo.bar");
        list.insert(b.clone()).expect("valid");
        let r3 = c.lookup(&list, b"foo.bar");
        assert_eq!(r3.psubs.len(), 2);
        assert_eq!(c.misses(), 2);
        assert_eq!(c.len(), 1);

        // And a remove does too.
        assert!(list.remove(&a));
        assert_eq!(c.lookup(&list, b"foo.bar").psubs.len(), 1);
        assert_eq!(c.lookup(&list, b"foo.baz").psubs.len(), 0);
        assert_eq!(c.misses(), 4);

        c.flush_stats(&list);
        let st = list.stats();
        assert_eq!(st.num_cache_hits, 1);
        assert_eq!(st.num_matches, 5);
    }

    #[test]
    fn bounded_fifo_eviction() {
        let list = Sublist::new();
        list.insert(sub(">")).expect("valid");
        let mut c = MatchCache::new(4);
        for i in 0..100 {
            let s = format!("s.{i}");
            assert_eq!(c.lookup(&list, s.as_bytes()).psubs.len(), 1);
            assert!(c.len() <= 4);
        }
        assert_eq!(c.len(), 4);
        // the last four are cached, older ones were evicted
        c.lookup(&list, b"s.99");
        c.lookup(&list, b"s.96");
        assert_eq!(c.hits(), 2);
        c.lookup(&list, b"s.0");
        assert_eq!(c.hits(), 2);
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn zero_capacity_never_caches() {
        let list = Sublist::new();
        let mut c = MatchCache::new(0);
        c.lookup(&list, b"a");
        c.lookup(&list, b"a");
        assert_eq!((c.hits(), c.misses(), c.len()), (0, 2, 0));
    }

    #[test]
    fn other_list_is_not_served_from_cache() {
        let l1 = Sublist::new();
        let l2 = Sublist::new();
        l1.insert(sub("a")).expect("valid");
        let mut c = MatchCache::new(8);
        assert_eq!(c.lookup(&l1, b"a").psubs.len(), 1);
        assert_eq!(c.lookup(&l2, b"a").psubs.len(), 0);
    }
}
