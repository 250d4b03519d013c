//! The subscriptions stored at one trie node: plain ones and queue groups, each
//! removable in O(1) whatever their number (a node may hold 200k subscriptions on one
//! subject, or 100k queue groups). Small sets, by far the common case, are plain
//! vectors scanned linearly; past `INDEX_AT` members a set also keeps a hash index.
//! Matching reads the vectors as slices, so the index costs nothing there.
use std::sync::Arc;

use ahash::AHashMap;
use smallvec::SmallVec;

use super::sub::Subscription;

/// Members beyond which a set keeps an index. Below it a scan of a few pointers is
/// cheaper than hashing and needs no memory.
const INDEX_AT: usize = 16;

/// Identity of a subscription (the trie compares by `Arc::ptr_eq`).
#[inline]
fn key(s: &Arc<Subscription>) -> usize {
    Arc::as_ptr(s) as usize
}

/// A set of subscriptions by identity. Order is not significant (nats uses a map),
/// so removal swaps the last member into the hole.
#[derive(Debug, Default)]
pub(super) struct SubSet {
    /// Most nodes hold exactly one plain subscription, kept inline (saves a heap
    /// block per subscription; measured with `natrix-bench subs`).
    subs: SmallVec<[Arc<Subscription>; 1]>,
    /// Identity → position in `subs`, once the set is large.
    index: Option<Box<AHashMap<usize, u32>>>,
}

impl SubSet {
    #[inline]
    pub(super) fn as_slice(&self) -> &[Arc<Subscription>] {
        &self.subs
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    #[cfg(test)]
    pub(super) fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    fn position(&self, sub: &Arc<Subscription>) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(&key(sub)).map(|&p| p as usize),
            None => self.subs.iter().position(|s| Arc::ptr_eq(s, sub)),
        }
    }

    /// Adds `sub`; false (and nothing changes) when this very subscription is present.
    pub(super) fn insert(&mut self, sub: Arc<Subscription>) -> bool {
        if self.position(&sub).is_some() {
            return false;
        }
        let pos = self.subs.len();
        let k = key(&sub);
        self.subs.push(sub);
        match &mut self.index {
            Some(ix) => {
                ix.insert(k, pos as u32);
            }
            None if self.subs.len() > INDEX_AT => {
                let ix = self.subs.iter().enumerate().map(|(i, s)| (key(s), i as u32)).collect();
                self.index = Some(Box::new(ix));
            }
            None => {}
        }
        true
    }

    /// Removes `sub` (by identity); false if it is not here.
    pub(super) fn remove(&mut self, sub: &Arc<Subscription>) -> bool {
        let pos = match &mut self.index {
            Some(ix) => match ix.remove(&key(sub)) {
                Some(p) => p as usize,
                None => return false,
            },
            None => match self.subs.iter().position(|s| Arc::ptr_eq(s, sub)) {
                Some(p) => p,
                None => return false,
            },
        };
        self.subs.swap_remove(pos);
        let moved = self.subs.get(pos).map(key);
        after_swap_remove(&mut self.index, moved, pos, self.subs.len());
        if self.subs.spilled() && self.subs.len() < self.subs.capacity() / 4 {
            self.subs.shrink_to_fit();
        }
        true
    }
}

/// Keeps a position index true after `swap_remove(pos)` took a member out (its key
/// already gone from the index): the member moved into `pos`, if any, is re-pointed.
/// The index is dropped well below the threshold (hysteresis: not at it, so a set
/// hovering around `INDEX_AT` does not rebuild it on every change) and shrunk when sparse.
fn after_swap_remove<K: Eq + std::hash::Hash>(
    index: &mut Option<Box<AHashMap<K, u32>>>,
    moved: Option<K>,
    pos: usize,
    len: usize,
) {
    let Some(ix) = index else { return };
    if len < INDEX_AT / 2 {
        *index = None;
        return;
    }
    if let Some(k) = moved {
        ix.insert(k, pos as u32);
    }
    if ix.capacity() > 64 && ix.len() < ix.capacity() / 4 {
        let keep = ix.len() * 2;
        ix.shrink_to(keep);
    }
}

/// Members of one queue group at one node.
#[derive(Debug)]
pub(super) struct QGroup {
    pub(super) name: Box<[u8]>,
    pub(super) subs: SubSet,
}

/// The queue groups of one node, found by name in O(1) once there are many.
#[derive(Debug, Default)]
pub(super) struct QGroups {
    groups: Vec<QGroup>,
    /// Queue name → position in `groups`, once there are many groups.
    index: Option<Box<AHashMap<Box<[u8]>, u32>>>,
}

impl QGroups {
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    #[inline]
    pub(super) fn iter(&self) -> std::slice::Iter<'_, QGroup> {
        self.groups.iter()
    }

    #[cfg(test)]
    pub(super) fn is_indexed(&self) -> bool {
        self.index.is_some()
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(name).map(|&p| p as usize),
            None => self.groups.iter().position(|g| &*g.name == name),
        }
    }

    /// Adds `sub` to the group named by its queue (creating it); false if already present.
    pub(super) fn insert(&mut self, sub: Arc<Subscription>) -> bool {
        let name = sub.queue.as_deref().unwrap_or_default();
        if let Some(gi) = self.find(name) {
            return self.groups[gi].subs.insert(sub);
        }
        let name: Box<[u8]> = name.into();
        let mut subs = SubSet::default();
        subs.insert(sub);
        let pos = self.groups.len();
        match &mut self.index {
            Some(ix) => {
                ix.insert(name.clone(), pos as u32);
            }
            None if self.groups.len() >= INDEX_AT => {
                let mut ix: AHashMap<Box<[u8]>, u32> =
                    self.groups.iter().enumerate().map(|(i, g)| (g.name.clone(), i as u32)).collect();
                ix.insert(name.clone(), pos as u32);
                self.index = Some(Box::new(ix));
            }
            None => {}
        }
        self.groups.push(QGroup { name, subs });
        true
    }

    /// Removes `sub` from the group of `name`, and the group once empty.
    pub(super) fn remove(&mut self, name: &[u8], sub: &Arc<Subscription>) -> bool {
        let Some(gi) = self.find(name) else { return false };
        if !self.groups[gi].subs.remove(sub) {
            return false;
        }
        if self.groups[gi].subs.is_empty() {
            self.groups.swap_remove(gi);
            if let Some(ix) = &mut self.index {
                ix.remove(name);
            }
            let moved = self.groups.get(gi).map(|g| g.name.clone());
            after_swap_remove(&mut self.index, moved, gi, self.groups.len());
            if self.groups.capacity() > 64 && self.groups.len() < self.groups.capacity() / 4 {
                self.groups.shrink_to(self.groups.len() * 2);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::sub::ConnRef;

    fn sub(q: Option<&str>) -> Arc<Subscription> {
        let owner = ConnRef { worker: 0, slot: 0, cid: 1 };
        Arc::new(Subscription::new(b"foo", q.map(str::as_bytes), b"1", owner))
    }

    fn ids(s: &SubSet) -> Vec<usize> {
        let mut v: Vec<usize> = s.as_slice().iter().map(key).collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn set_by_identity_across_the_index_threshold() {
        let mut set = SubSet::default();
        let subs: Vec<_> = (0..100).map(|_| sub(None)).collect();
        for s in &subs {
            assert!(set.insert(s.clone()));
        }
        assert!(set.is_indexed());
        assert!(!set.insert(subs[3].clone()), "same subscription twice");
        assert_eq!(set.as_slice().len(), 100);
        // Remove from the front, middle and back; the index follows every swap.
        for i in [0usize, 50, 99, 1, 98] {
            assert!(set.remove(&subs[i]));
            assert!(!set.remove(&subs[i]));
        }
        let mut want: Vec<usize> = subs
            .iter()
            .enumerate()
            .filter(|(i, _)| ![0, 50, 99, 1, 98].contains(i))
            .map(|(_, s)| key(s))
            .collect();
        want.sort_unstable();
        assert_eq!(ids(&set), want);
        let stranger = sub(None);
        assert!(!set.remove(&stranger));
        for (i, s) in subs.iter().enumerate() {
            assert_eq!(set.remove(s), ![0, 50, 99, 1, 98].contains(&i), "{i}");
        }
        assert!(set.is_empty());
        assert!(!set.is_indexed(), "index dropped when small again");
    }

    #[test]
    fn groups_by_name_across_the_index_threshold() {
        let mut g = QGroups::default();
        let names: Vec<String> = (0..200).map(|i| format!("q{i}")).collect();
        let members: Vec<_> = names.iter().map(|n| (sub(Some(n)), sub(Some(n)))).collect();
        for (a, b) in &members {
            assert!(g.insert(a.clone()));
            assert!(g.insert(b.clone()));
            assert!(!g.insert(b.clone()));
        }
        assert!(g.is_indexed());
        assert_eq!(g.iter().count(), 200);
        // Emptying a group removes it; the moved group stays findable.
        for (n, (a, b)) in names.iter().zip(&members).step_by(3) {
            assert!(g.remove(n.as_bytes(), a));
            assert!(!g.remove(n.as_bytes(), a));
            assert!(g.remove(n.as_bytes(), b));
            assert!(g.find(n.as_bytes()).is_none());
        }
        for (i, (n, (a, _))) in names.iter().zip(&members).enumerate() {
            let found = g.find(n.as_bytes()).map(|gi| &*g.groups[gi].name == n.as_bytes());
            assert_eq!(found, if i % 3 == 0 { None } else { Some(true) }, "{n}");
            assert!(!g.remove(b"nope", a));
        }
        for (i, (n, (a, b))) in names.iter().zip(&members).enumerate() {
            if i % 3 != 0 {
                assert!(g.remove(n.as_bytes(), a) && g.remove(n.as_bytes(), b));
            }
        }
        assert!(g.is_empty());
        assert!(!g.is_indexed());
    }
}
