//! A subscription as stored in the trie and shared between workers.
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

/// What a subscriber's permissions keep from one of its (wildcard) subscriptions. It is
/// checked where the message is routed, on the publisher's worker, so that a queue group
/// passes a filtered message on to its next member.
pub trait DeliveryFilter: Send + Sync + std::fmt::Debug {
    fn denies(&self, subject: &[u8]) -> bool;
}

/// Which connection owns a subscription: the worker that runs it, its slot in that
/// worker's connection table, and the server-wide client id (slots are reused, cids never).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnRef {
    pub worker: u16,
    pub slot: u32,
    pub cid: u64,
}

/// One `SUB`. Shared (`Arc`) between the trie, match results and the owning connection.
#[derive(Debug)]
pub struct Subscription {
    pub subject: Box<[u8]>,
    pub queue: Option<Box<[u8]>>,
    pub sid: Box<[u8]>,
    pub owner: ConnRef,
    /// Auto-unsubscribe limit (UNSUB with max); 0 = none.
    pub max: AtomicU64,
    /// Messages handed to this subscription so far (counts toward `max`).
    pub delivered: AtomicU64,
    /// Set once the subscription is removed or its connection closed, so that
    /// cached match results held by other workers skip it.
    pub closed: AtomicBool,
    /// Set by the owning worker when the client unsubscribed or went away. Unlike
    /// `closed` (which a publisher also sets when it claims the last message of an
    /// auto-unsubscribe limit), it means: drop messages already on their way.
    pub unsubscribed: AtomicBool,
    /// Set when `filter` holds one: subscriptions without a filter cost one load.
    filtered: AtomicBool,
    /// Replaced when a reload changes the owner's permissions.
    filter: RwLock<Option<Arc<dyn DeliveryFilter>>>,
    /// Interest a route peer announced (owned by the route connection): messages
    /// for it go out as one RMSG per route, never to a client.
    pub remote: bool,
    /// Queue weight: a remote queue group's member count on that peer (1 for local
    /// subscriptions); the member is picked that many times more often.
    pub weight: AtomicU32,
    /// Remote interest of a leaf link: a queue member of last resort (local members
    /// are always preferred over leaf ones, as nats-server does).
    pub leaf: bool,
}

impl Subscription {
    pub fn new(subject: &[u8], queue: Option<&[u8]>, sid: &[u8], owner: ConnRef) -> Self {
        Subscription {
            subject: subject.into(),
            queue: queue.map(Into::into),
            sid: sid.into(),
            owner,
            max: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            unsubscribed: AtomicBool::new(false),
            filtered: AtomicBool::new(false),
            filter: RwLock::new(None),
            remote: false,
            weight: AtomicU32::new(1),
            leaf: false,
        }
    }

    pub fn set_filter(&self, filter: Option<Arc<dyn DeliveryFilter>>) {
        let some = filter.is_some();
        *self.filter.write() = filter;
        self.filtered.store(some, Ordering::Release);
    }

    /// Whether the owner's permissions keep a message on `subject` from this subscription.
    #[inline]
    pub fn filters_out(&self, subject: &[u8]) -> bool {
        if !self.filtered.load(Ordering::Acquire) {
            return false;
        }
        self.filter.read().as_ref().is_some_and(|f| f.denies(subject))
    }

    /// Interest announced by a route peer (`RS+`), owned by that route connection.
    pub fn remote(subject: &[u8], queue: Option<&[u8]>, key: &[u8], owner: ConnRef, weight: u32) -> Self {
        let mut s = Subscription::new(subject, queue, key, owner);
        s.remote = true;
        s.weight = AtomicU32::new(weight.max(1));
        s
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Marks the subscription gone (owner side): no more deliveries at all.
    pub fn mark_unsubscribed(&self) {
        self.unsubscribed.store(true, Ordering::Release);
        self.closed.store(true, Ordering::Release);
    }

    pub fn is_unsubscribed(&self) -> bool {
        self.unsubscribed.load(Ordering::Acquire)
    }
}
