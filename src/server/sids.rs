//! A connection's subscriptions, found by sid. The sid is not stored twice: the set
//! holds the subscriptions themselves, hashed and compared by their sid (saves an
//! allocation and a key per subscription — measured with `natrix-bench subs`).
use crate::subject::Subscription;
use ahash::AHashSet;
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

struct BySid(Arc<Subscription>);

impl PartialEq for BySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.sid == other.0.sid
    }
}
impl Eq for BySid {}

impl Hash for BySid {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must hash exactly like the borrowed `[u8]` form.
        let sid: &[u8] = &self.0.sid;
        sid.hash(state);
    }
}

impl Borrow<[u8]> for BySid {
    fn borrow(&self) -> &[u8] {
        &self.0.sid
    }
}

#[derive(Default)]
pub struct Sids {
    set: AHashSet<BySid>,
}

impl Sids {
    pub fn get(&self, sid: &[u8]) -> Option<&Arc<Subscription>> {
        self.set.get(sid).map(|b| &b.0)
    }

    pub fn contains(&self, sid: &[u8]) -> bool {
        self.set.contains(sid)
    }

    /// Adds `sub` unless its sid is taken; returns whether it was added.
    pub fn insert(&mut self, sub: Arc<Subscription>) -> bool {
        self.set.insert(BySid(sub))
    }

    pub fn remove(&mut self, sid: &[u8]) -> Option<Arc<Subscription>> {
        self.set.take(sid).map(|b| b.0)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.set.iter().map(|b| &b.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::ConnRef;

    fn sub(sid: &str) -> Arc<Subscription> {
        Arc::new(Subscription::new(b"a", None, sid.as_bytes(), ConnRef { worker: 0, slot: 0, cid: 1 }))
    }

    #[test]
    fn by_sid() {
        let mut s = Sids::default();
        assert!(s.insert(sub("1")));
        assert!(!s.insert(sub("1")), "duplicate sid refused");
        assert!(s.insert(sub("22")));
        assert!(s.contains(b"22"));
        assert_eq!(s.get(b"1").map(|x| &*x.sid), Some(&b"1"[..]));
        assert_eq!(s.len(), 2);
        assert!(s.remove(b"1").is_some());
        assert!(s.remove(b"1").is_none());
        assert_eq!(s.iter().count(), 1);
    }
}
