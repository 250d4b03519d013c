//! The result of matching one published subject against a `Sublist`.
use std::sync::Arc;

use smallvec::SmallVec;

use super::sub::Subscription;

/// One queue group's matching members (all share the same queue name).
pub type QueueGroup = SmallVec<[Arc<Subscription>; 4]>;

/// Matching subscriptions: plain ones, and one list per queue group (queue name equal,
/// merged across trie nodes, e.g. `foo.*` and `foo.>` members of queue `q` form one group).
#[derive(Debug, Default, Clone)]
pub struct SubResult {
    pub psubs: SmallVec<[Arc<Subscription>; 4]>,
    pub qsubs: SmallVec<[QueueGroup; 2]>,
}

impl SubResult {
    pub fn new() -> Self {
        Self::default()
    }

    /// No plain and no queue subscription matched.
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }

    /// Plain subs plus queue members (the fanout upper bound).
    pub fn len(&self) -> usize {
        self.psubs.len() + self.qsubs.iter().map(|q| q.len()).sum::<usize>()
    }

    /// The queue name of group `i` (`None` if out of range).
    pub fn queue_name(&self, i: usize) -> Option<&[u8]> {
        self.qsubs.get(i)?.first()?.queue.as_deref()
    }

    /// Index of the group for `queue`, if any.
    pub(crate) fn find_queue(&self, queue: &[u8]) -> Option<usize> {
        self.qsubs
            .iter()
            .position(|g| g.first().and_then(|s| s.queue.as_deref()) == Some(queue))
    }

    /// Appends the members of one queue group (merging with an existing group of that name).
    pub(crate) fn add_queue_members(&mut self, queue: &[u8], members: &[Arc<Subscription>]) {
        if members.is_empty() {
            return;
        }
        match self.find_queue(queue) {
            Some(i) => self.qsubs[i].extend(members.iter().cloned()),
            None => self.qsubs.push(members.iter().cloned().collect()),
        }
    }

    /// All subscriptions, plain then queue members (tests, monitoring).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.psubs.iter().chain(self.qsubs.iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subject::sub::ConnRef;

    fn sub(q: Option<&str>) -> Arc<Subscription> {
        let owner = ConnRef {
            worker: 0,
            slot: 0,
            cid: 1,
        };
        Arc::new(Subscription::new(b"foo", q.map(str::as_bytes), b"1", owner))
    }

    #[test]
    fn groups_merge_by_name() {
        let mut r = SubResult::new();
        assert!(r.is_empty());
        let (a, b, c) = (sub(Some("q")), sub(Some("q")), sub(Some("r")));
        r.add_queue_members(b"q", &[a]);
        r.add_queue_members(b"r", &[c]);
        r.add_queue_members(b"q", &[b]);
        r.add_queue_members(b"z", &[]);
        assert_eq!(r.qsubs.len(), 2);
        assert_eq!(r.qsubs[0].len(), 2);
        assert_eq!(r.queue_name(1), Some(&b"r"[..]));
        assert_eq!(r.len(), 3);
        assert_eq!(r.iter().count(), 3);
    }
}
