//! The result of matching one published subject against a `Sublist`.
use std::sync::atomic::Ordering;
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
    /// Per queue group (index as `qsubs`): the running sums of its members' weights
    /// when a route's member is in it, else `None` (all weigh 1). Set by
    /// `Sublist::match_subject`, so a cached result picks in O(log n) instead of
    /// summing the group per message; a weight change bumps the trie generation.
    qweights: SmallVec<[Option<Box<[u64]>>; 2]>,
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

    /// Records the weight sums of the groups that have a route's member (see `qweights`).
    pub(crate) fn finish_weights(&mut self) {
        if self.qsubs.iter().all(|g| g.iter().all(|s| !s.remote)) {
            return;
        }
        self.qweights = self
            .qsubs
            .iter()
            .map(|g| {
                if g.iter().all(|s| !s.remote) {
                    return None;
                }
                let mut sum = 0u64;
                Some(g.iter().map(|s| {
                    sum += u64::from(s.weight.load(Ordering::Relaxed).max(1));
                    sum
                }).collect())
            })
            .collect();
    }

    /// The index of a member of group `i` picked at random from `rand`, a route's member
    /// counting as many times as its weight (its member count on that server), as
    /// nats-server picks. Uniform when the group has no route member.
    #[inline]
    pub fn pick(&self, i: usize, rand: u64) -> usize {
        let n = self.qsubs.get(i).map_or(0, |g| g.len()) as u64;
        match self.qweights.get(i).and_then(Option::as_deref) {
            Some(sums) if sums.len() as u64 == n && n > 0 => {
                let total = sums[sums.len() - 1].max(1);
                let r = rand % total;
                sums.partition_point(|&s| s <= r)
            }
            _ => (rand % n.max(1)) as usize,
        }
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
            Some(i) => self.qsubs[i].extend(live(members)),
            None => {
                self.push_group(members);
            }
        }
    }

    /// Appends the queue groups of one trie node (names distinct within the node),
    /// merging with groups of the same name from other nodes. Linear in the number of
    /// groups: a subject with 100k queue groups must not cost 10^10 comparisons.
    pub(crate) fn add_queue_groups<'a>(
        &mut self,
        groups: impl ExactSizeIterator<Item = (&'a [u8], &'a [Arc<Subscription>])>,
    ) {
        if self.qsubs.is_empty() {
            // Nothing to merge with: the node's groups are distinct already.
            for (_, members) in groups {
                self.push_group(members);
            }
            return;
        }
        if self.qsubs.len() * groups.len() <= 1024 {
            for (name, members) in groups {
                self.add_queue_members(name, members);
            }
            return;
        }
        // Many on both sides (e.g. `foo.*` and `foo.bar` both with thousands of groups).
        let mut by_name: ahash::AHashMap<Box<[u8]>, usize> = self
            .qsubs
            .iter()
            .enumerate()
            .filter_map(|(i, g)| Some((g.first()?.queue.clone()?, i)))
            .collect();
        for (name, members) in groups {
            if members.is_empty() {
                continue;
            }
            match by_name.get(name) {
                Some(&i) => self.qsubs[i].extend(live(members)),
                None => {
                    if self.push_group(members) {
                        by_name.insert(name.into(), self.qsubs.len() - 1);
                    }
                }
            }
        }
    }

    /// Adds a new group of the live `members`; false (nothing added) when none is live.
    fn push_group(&mut self, members: &[Arc<Subscription>]) -> bool {
        let group: QueueGroup = live(members).collect();
        let added = !group.is_empty();
        if added {
            self.qsubs.push(group);
        }
        added
    }

    /// All subscriptions, plain then queue members (tests, monitoring).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.psubs.iter().chain(self.qsubs.iter().flatten())
    }
}

/// The members not yet closed (cloned): what a match result carries.
#[inline]
pub(crate) fn live(members: &[Arc<Subscription>]) -> impl Iterator<Item = Arc<Subscription>> + '_ {
    members.iter().filter(|s| !s.is_closed()).cloned()
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
    fn weighted_pick_counts_route_members_by_weight() {
        let local = sub(Some("q"));
        let owner = ConnRef { worker: 0, slot: 1, cid: 2 };
        let remote = Arc::new(Subscription::remote(b"foo", Some(b"q"), b"$G foo q", owner, 3));
        let mut r = SubResult::new();
        r.add_queue_members(b"q", &[local.clone(), remote.clone(), local]);
        // Without weights recorded: uniform.
        assert_eq!((0..3).map(|x| r.pick(0, x)).collect::<Vec<_>>(), [0, 1, 2]);
        r.finish_weights();
        // Weights 1, 3, 1: draws 0..5 map to 0, 1, 1, 1, 2.
        assert_eq!((0..5).map(|x| r.pick(0, x)).collect::<Vec<_>>(), [0, 1, 1, 1, 2]);
        assert_eq!(r.pick(0, 7), 1);
        // A group of local members only keeps the uniform pick.
        let mut l = SubResult::new();
        l.add_queue_members(b"q", &[sub(Some("q")), sub(Some("q"))]);
        l.finish_weights();
        assert!(l.qweights.is_empty());
        assert_eq!((l.pick(0, 0), l.pick(0, 1), l.pick(0, 2)), (0, 1, 0));
        assert_eq!(SubResult::new().pick(0, 5), 0);
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

    #[test]
    fn node_groups_merge_by_name_small_and_large() {
        for n in [3usize, 200] {
            let names: Vec<String> = (0..n).map(|i| format!("g{i}")).collect();
            let node_a: Vec<(Vec<u8>, Vec<Arc<Subscription>>)> =
                names.iter().map(|q| (q.clone().into_bytes(), vec![sub(Some(q))])).collect();
            // The second node shares every other name and adds one of its own.
            let mut node_b: Vec<(Vec<u8>, Vec<Arc<Subscription>>)> = names
                .iter()
                .step_by(2)
                .map(|q| (q.clone().into_bytes(), vec![sub(Some(q)), sub(Some(q))]))
                .collect();
            node_b.push((b"own".to_vec(), vec![sub(Some("own"))]));
            node_b.push((b"empty".to_vec(), vec![]));
            let mut r = SubResult::new();
            r.add_queue_groups(node_a.iter().map(|(q, m)| (&q[..], &m[..])));
            r.add_queue_groups(node_b.iter().map(|(q, m)| (&q[..], &m[..])));
            assert_eq!(r.qsubs.len(), n + 1, "{n}");
            for (i, q) in names.iter().enumerate() {
                let g = r.find_queue(q.as_bytes()).map(|g| r.qsubs[g].len());
                assert_eq!(g, Some(if i % 2 == 0 { 3 } else { 1 }), "{q}");
            }
            assert_eq!(r.find_queue(b"own").map(|g| r.qsubs[g].len()), Some(1));
            assert_eq!(r.find_queue(b"empty"), None);
            assert!(r.qsubs.iter().all(|g| g.iter().all(|s| s.queue == g[0].queue)));
        }
    }
}
