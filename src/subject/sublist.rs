//! The sharded subscription list shared by all workers.
//!
//! Subscriptions are sharded by their first token: a literal first token hashes into
//! one of [`LITERAL_SHARDS`] tries, a wildcard first token (`*` or `>`) goes to the
//! wildcard trie. Each trie has its own `RwLock`, so a SUB/UNSUB on one shard never
//! stalls matches on another. A match reads the shard of the subject's first token
//! and the wildcard shard (skipped without locking while it is empty).
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use smallvec::SmallVec;

use super::result::SubResult;
use super::sub::Subscription;
use super::trie::Trie;
use super::validate::{is_fwc, is_pwc, is_valid_sub_subject, tokens};

/// Number of tries for subscriptions whose first token is a literal.
pub const LITERAL_SHARDS: usize = 16;
const WILDCARD_SHARD: usize = LITERAL_SHARDS;
/// Removals done under one hold of a shard's write lock by `remove_batch`
/// (about 0.1 ms of lock hold; see benches/trie.rs `one_subject`).
const REMOVE_CHUNK: usize = 256;

/// Errors from [`Sublist`] operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// Empty token or a token after `>`: the server answers `-ERR 'Invalid Subject'`.
    #[error("Invalid Subject")]
    Invalid,
}

/// Counters for `/subsz` (`num_subscriptions`, `num_inserts`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SublistStats {
    pub num_subscriptions: usize,
    pub num_inserts: u64,
    pub num_removes: u64,
    /// Uncached matches plus cache hits reported by [`MatchCache`](super::MatchCache)s.
    pub num_matches: u64,
    /// Cache hits reported by `MatchCache`s (flushed in batches, so slightly behind).
    pub num_cache_hits: u64,
}

impl SublistStats {
    /// `cache_hit_rate` as in `/subsz`.
    pub fn cache_hit_rate(&self) -> f64 {
        if self.num_matches == 0 {
            0.0
        } else {
            self.num_cache_hits as f64 / self.num_matches as f64
        }
    }
}

/// One shard, on its own cache lines so that readers of different shards don't share.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Shard {
    trie: RwLock<Trie>,
    /// Subscriptions in this shard (lets a match skip an empty shard without locking).
    len: AtomicUsize,
}

#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded<T>(T);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The subscription trie of one account. `Send + Sync`; share it through `Arc`.
#[derive(Debug)]
pub struct Sublist {
    shards: Box<[Shard]>,
    hasher: ahash::RandomState,
    generation: Padded<AtomicU64>,
    id: u64,
    count: AtomicUsize,
    inserts: AtomicU64,
    removes: AtomicU64,
    matches: AtomicU64,
    cache_hits: AtomicU64,
}

impl Default for Sublist {
    fn default() -> Self {
        Self::new()
    }
}

type Tokens<'a> = SmallVec<[&'a [u8]; 16]>;

impl Sublist {
    pub fn new() -> Self {
        Sublist {
            shards: (0..=LITERAL_SHARDS).map(|_| Shard::default()).collect(),
            hasher: ahash::RandomState::with_seeds(
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ),
            generation: Padded(AtomicU64::new(0)),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            count: AtomicUsize::new(0),
            inserts: AtomicU64::new(0),
            removes: AtomicU64::new(0),
            matches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    /// Process-unique id (a `MatchCache` uses it to notice being used with another list).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Shard for a subject whose first token is `first`.
    fn shard_of(&self, first: &[u8]) -> usize {
        if is_pwc(first) || is_fwc(first) {
            WILDCARD_SHARD
        } else {
            (self.hasher.hash_one(first) % LITERAL_SHARDS as u64) as usize
        }
    }

    fn first_token(subject: &[u8]) -> &[u8] {
        tokens(subject).next().unwrap_or_default()
    }

    fn bump(&self) {
        self.generation.0.fetch_add(1, Ordering::AcqRel);
    }

    /// Adds a subscription. `SubjectError::Invalid` (nothing added) for an empty token
    /// or a token after `>`.
    pub fn insert(&self, sub: Arc<Subscription>) -> Result<(), SubjectError> {
        if !is_valid_sub_subject(&sub.subject) {
            return Err(SubjectError::Invalid);
        }
        let shard = &self.shards[self.shard_of(Self::first_token(&sub.subject))];
        let mut trie = shard.trie.write();
        // The same `Arc` twice is one subscription (the trie is a set by identity).
        if !trie.insert(sub) {
            return Ok(());
        }
        shard.len.fetch_add(1, Ordering::Release);
        self.bump();
        drop(trie);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes a subscription (identity: `Arc::ptr_eq`). False if it was not present.
    pub fn remove(&self, sub: &Arc<Subscription>) -> bool {
        if !is_valid_sub_subject(&sub.subject) {
            return false;
        }
        let shard = &self.shards[self.shard_of(Self::first_token(&sub.subject))];
        let mut trie = shard.trie.write();
        if !trie.remove(sub) {
            return false;
        }
        shard.len.fetch_sub(1, Ordering::Release);
        self.bump();
        drop(trie);
        self.count.fetch_sub(1, Ordering::Relaxed);
        self.removes.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Removes many subscriptions (connection close). Each shard's write lock is held
    /// for at most `REMOVE_CHUNK` removals, then released so that matches on that
    /// shard (every publisher of every worker) get their turn; each chunk bumps the
    /// generation, so match caches never keep a result from before it. Subscriptions
    /// still waiting for their chunk must already be marked closed by the caller, so
    /// that results holding them skip them.
    pub fn remove_batch(&self, subs: &[Arc<Subscription>]) {
        let mut order: Vec<(usize, &Arc<Subscription>)> = subs
            .iter()
            .filter(|s| is_valid_sub_subject(&s.subject))
            .map(|s| (self.shard_of(Self::first_token(&s.subject)), s))
            .collect();
        order.sort_unstable_by_key(|(shard, _)| *shard);
        let mut removed = 0usize;
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let shard = &self.shards[group[0].0];
            for chunk in group.chunks(REMOVE_CHUNK) {
                let mut trie = shard.trie.write();
                let n = chunk.iter().filter(|(_, s)| trie.remove(s)).count();
                if n > 0 {
                    shard.len.fetch_sub(n, Ordering::Release);
                    self.bump();
                }
                drop(trie);
                removed += n;
            }
        }
        self.count.fetch_sub(removed, Ordering::Relaxed);
        self.removes.fetch_add(removed as u64, Ordering::Relaxed);
    }

    /// Matches a published subject (uncached). A subject with an empty token (including
    /// the empty subject) matches nothing. Wildcard tokens in `subject` match token-wise.
    pub fn match_subject(&self, subject: &[u8]) -> Arc<SubResult> {
        self.matches.fetch_add(1, Ordering::Relaxed);
        let mut toks = Tokens::new();
        for t in tokens(subject) {
            if t.is_empty() {
                return Arc::new(SubResult::new());
            }
            toks.push(t);
        }
        let mut r = SubResult::new();
        let lit = self.shard_of(toks[0]);
        if lit != WILDCARD_SHARD {
            self.match_shard(lit, &toks, &mut r);
        }
        self.match_shard(WILDCARD_SHARD, &toks, &mut r);
        r.finish_weights();
        // Always a fresh Arc (even when empty): a result shared by all workers would
        // make every cache hit bump one contended reference count.
        Arc::new(r)
    }

    fn match_shard(&self, i: usize, toks: &[&[u8]], r: &mut SubResult) {
        let shard = &self.shards[i];
        if shard.len.load(Ordering::Acquire) == 0 {
            return;
        }
        shard.trie.read().match_into(toks, r);
    }

    /// True if anything matches `subject` (same rules as [`Self::match_subject`]).
    pub fn has_interest(&self, subject: &[u8]) -> bool {
        !self.match_subject(subject).is_empty()
    }

    /// Makes cached match results stale without changing the trie (a route's queue
    /// weight changed: results carry the weight sums).
    pub fn touch(&self) {
        self.bump();
    }

    /// Bumped (atomically) by every insert and remove.
    pub fn generation(&self) -> u64 {
        self.generation.0.load(Ordering::Acquire)
    }

    /// Number of subscriptions.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> SublistStats {
        SublistStats {
            num_subscriptions: self.count(),
            num_inserts: self.inserts.load(Ordering::Relaxed),
            num_removes: self.removes.load(Ordering::Relaxed),
            num_matches: self.matches.load(Ordering::Relaxed),
            num_cache_hits: self.cache_hits.load(Ordering::Relaxed),
        }
    }

    /// Called by `MatchCache` to report hits it served (each also counts as a match).
    pub(crate) fn record_cache_hits(&self, n: u64) {
        if n > 0 {
            self.cache_hits.fetch_add(n, Ordering::Relaxed);
            self.matches.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Every subscription (monitoring `/subsz`, reload re-checks). Takes each shard's
    /// read lock in turn.
    pub fn all(&self) -> Vec<Arc<Subscription>> {
        let mut out = Vec::with_capacity(self.count());
        for shard in self.shards.iter() {
            shard.trie.read().for_each(&mut |s| out.push(s.clone()));
        }
        out
    }

    /// True when no trie holds any node (used by tests to check pruning).
    pub fn is_pruned_empty(&self) -> bool {
        self.shards.iter().all(|s| s.trie.read().is_empty())
    }
}

#[cfg(test)]
#[path = "sublist_tests.rs"]
mod tests;
