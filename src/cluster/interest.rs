//! Interest state for routes, sans-IO.
//!
//! `LocalInterest` counts this server's own subscriptions per key and says which
//! RS+/RS- a change must send (plain: only on 0↔1; queue: the new member count on
//! every change). `RemoteInterest` is what one peer told us, keyed by the raw text
//! `"<acc> <subj>[ <queue>]"` as nats-server keys it, with queue weights.
use std::collections::HashMap;

/// `"<acc> <subj>[ <queue>]"`.
pub fn key(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut k = Vec::with_capacity(account.len() + subject.len() + 2 + queue.map_or(0, <[u8]>::len));
    k.extend_from_slice(account);
    k.push(b' ');
    k.extend_from_slice(subject);
    if let Some(q) = queue {
        k.push(b' ');
        k.extend_from_slice(q);
    }
    k
}

/// One interest line to send to peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `RS+`; `weight` is `Some(members)` for a queue group.
    Sub { account: Box<[u8]>, subject: Box<[u8]>, queue: Option<(Box<[u8]>, u32)> },
    Unsub { account: Box<[u8]>, subject: Box<[u8]>, queue: Option<Box<[u8]>> },
}

impl Update {
    pub fn subject(&self) -> &[u8] {
        match self {
            Update::Sub { subject, .. } | Update::Unsub { subject, .. } => subject,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Update::Sub { account, subject, queue } => {
                super::encode::write_rs_plus(out, account, subject, queue.as_ref().map(|(q, w)| (&q[..], *w)))
            }
            Update::Unsub { account, subject, queue } => {
                super::encode::write_rs_minus(out, account, subject, queue.as_deref())
            }
        }
    }
}

#[derive(Debug, Clone)]
struct LocalEntry {
    account: Box<[u8]>,
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
    count: u32,
}

/// This server's subscriptions, counted per key.
#[derive(Debug, Default)]
pub struct LocalInterest {
    entries: HashMap<Vec<u8>, LocalEntry>,
}

impl LocalInterest {
    /// One more local subscription; the update to send, if any.
    pub fn add(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Option<Update> {
        self.add_n(account, subject, queue, 1)
    }

    /// `n` local subscriptions more (a leaf's queue weight counts as that many members).
    pub fn add_n(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, n: u32) -> Option<Update> {
        let e = self.entries.entry(key(account, subject, queue)).or_insert_with(|| LocalEntry {
            account: account.into(),
            subject: subject.into(),
            queue: queue.map(Into::into),
            count: 0,
        });
        let before = e.count;
        e.count = e.count.saturating_add(n.max(1));
        match &e.queue {
            Some(q) => Some(Update::Sub { account: e.account.clone(), subject: e.subject.clone(), queue: Some((q.clone(), e.count)) }),
            None if before == 0 => Some(Update::Sub { account: e.account.clone(), subject: e.subject.clone(), queue: None }),
            None => None,
        }
    }

    /// One local subscription fewer; the update to send, if any.
    pub fn remove(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Option<Update> {
        self.remove_n(account, subject, queue, 1)
    }

    /// `n` local subscriptions fewer.
    pub fn remove_n(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, n: u32) -> Option<Update> {
        let k = key(account, subject, queue);
        let e = self.entries.get_mut(&k)?;
        e.count = e.count.saturating_sub(n.max(1));
        if e.count == 0 {
            let e = self.entries.remove(&k)?;
            return Some(Update::Unsub { account: e.account, subject: e.subject, queue: e.queue });
        }
        e.queue.as_ref().map(|q| Update::Sub { account: e.account.clone(), subject: e.subject.clone(), queue: Some((q.clone(), e.count)) })
    }

    /// The full sync for a new route: one RS+ per key (queue groups with their count).
    pub fn snapshot(&self) -> Vec<Update> {
        let mut v: Vec<(&Vec<u8>, &LocalEntry)> = self.entries.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
            .map(|(_, e)| Update::Sub {
                account: e.account.clone(),
                subject: e.subject.clone(),
                queue: e.queue.as_ref().map(|q| (q.clone(), e.count)),
            })
            .collect()
    }

    /// Key → count (queue) or 1 (plain), for tests and monitoring.
    pub fn weights(&self) -> std::collections::BTreeMap<Vec<u8>, u32> {
        self.entries.iter().map(|(k, e)| (k.clone(), if e.queue.is_some() { e.count } else { 1 })).collect()
    }
}

/// What applying an RS+/RS- changed.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoteChange<T> {
    /// A new key: the caller creates the subscription and stores it with `set_handle`.
    Added,
    /// A queue group's weight changed (handle kept).
    Weight(u32),
    /// Nothing to do (repeated plain RS+, or RS- of an unknown key).
    Unchanged,
    /// The key is gone; here is what was stored for it.
    Removed(Option<T>),
}

/// The interest one peer announced. `T` is the caller's handle (the trie entry).
#[derive(Debug)]
pub struct RemoteInterest<T> {
    entries: HashMap<Vec<u8>, (u32, Option<T>)>,
}

impl<T> Default for RemoteInterest<T> {
    fn default() -> Self {
        RemoteInterest { entries: HashMap::new() }
    }
}

impl<T> RemoteInterest<T> {
    pub fn sub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, weight: u32) -> RemoteChange<T> {
        let w = if queue.is_some() { weight.max(1) } else { 1 };
        match self.entries.entry(key(account, subject, queue)) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                if queue.is_none() || o.get().0 == w {
                    return RemoteChange::Unchanged;
                }
                o.get_mut().0 = w;
                RemoteChange::Weight(w)
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert((w, None));
                RemoteChange::Added
            }
        }
    }

    pub fn set_handle(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, handle: T) {
        if let Some(e) = self.entries.get_mut(&key(account, subject, queue)) {
            e.1 = Some(handle);
        }
    }

    pub fn handle(&self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Option<&T> {
        self.entries.get(&key(account, subject, queue)).and_then(|e| e.1.as_ref())
    }

    pub fn unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> RemoteChange<T> {
        match self.entries.remove(&key(account, subject, queue)) {
            Some((_, h)) => RemoteChange::Removed(h),
            None => RemoteChange::Unchanged,
        }
    }

    /// Everything (the route dropped).
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.entries.drain().filter_map(|(_, (_, h))| h)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Key → weight.
    pub fn weights(&self) -> std::collections::BTreeMap<Vec<u8>, u32> {
        self.entries.iter().map(|(k, (w, _))| (k.clone(), *w)).collect()
    }

    /// Keys (for `/routez?subs=1`).
    /// The handles of the current interest (for monitoring).
    pub fn handles(&self) -> impl Iterator<Item = &T> {
        self.entries.values().filter_map(|(_, h)| h.as_ref())
    }

    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.keys().map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(u: Option<Update>) -> String {
        let mut out = Vec::new();
        if let Some(u) = u {
            u.encode(&mut out);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_sends_on_zero_one_edges_only() {
        let mut l = LocalInterest::default();
        assert_eq!(lines(l.add(b"$G", b"d", None)), "RS+ $G d\r\n");
        assert_eq!(lines(l.add(b"$G", b"d", None)), "");
        assert_eq!(lines(l.remove(b"$G", b"d", None)), "");
        assert_eq!(lines(l.remove(b"$G", b"d", None)), "RS- $G d\r\n");
        assert_eq!(lines(l.remove(b"$G", b"d", None)), "");
    }

    #[test]
    fn queue_sends_every_count() {
        let mut l = LocalInterest::default();
        let a: Vec<String> = (0..3).map(|_| lines(l.add(b"$G", b"w", Some(b"g")))).collect();
        assert_eq!(a, ["RS+ $G w g 1\r\n", "RS+ $G w g 2\r\n", "RS+ $G w g 3\r\n"]);
        let r: Vec<String> = (0..3).map(|_| lines(l.remove(b"$G", b"w", Some(b"g")))).collect();
        assert_eq!(r, ["RS+ $G w g 2\r\n", "RS+ $G w g 1\r\n", "RS- $G w g\r\n"]);
    }

    #[test]
    fn counts_by_weight_for_leaf_members() {
        let mut l = LocalInterest::default();
        assert_eq!(lines(l.add_n(b"$G", b"lq", Some(b"grp"), 2)), "RS+ $G lq grp 2\r\n");
        assert_eq!(lines(l.add(b"$G", b"lq", Some(b"grp"))), "RS+ $G lq grp 3\r\n");
        assert_eq!(lines(l.add_n(b"$G", b"p", None, 3)), "RS+ $G p\r\n");
        assert_eq!(lines(l.remove_n(b"$G", b"p", None, 2)), "");
        assert_eq!(lines(l.remove_n(b"$G", b"lq", Some(b"grp"), 2)), "RS+ $G lq grp 1\r\n");
        assert_eq!(lines(l.remove_n(b"$G", b"lq", Some(b"grp"), 5)), "RS- $G lq grp\r\n");
        assert_eq!(lines(l.remove(b"$G", b"p", None)), "RS- $G p\r\n");
    }

    #[test]
    fn snapshot_and_remote() {
        let mut l = LocalInterest::default();
        l.add(b"A", b"x", None);
        l.add(b"$G", b"q", Some(b"g"));
        l.add(b"$G", b"q", Some(b"g"));
        let mut out = Vec::new();
        for u in l.snapshot() {
            u.encode(&mut out);
        }
        assert_eq!(out, b"RS+ $G q g 2\r\nRS+ A x\r\n");
        let mut r: RemoteInterest<u8> = RemoteInterest::default();
        assert_eq!(r.sub(b"$G", b"q", Some(b"g"), 2), RemoteChange::Added);
        r.set_handle(b"$G", b"q", Some(b"g"), 7);
        assert_eq!(r.sub(b"$G", b"q", Some(b"g"), 2), RemoteChange::Unchanged);
        assert_eq!(r.sub(b"$G", b"q", Some(b"g"), 5), RemoteChange::Weight(5));
        assert_eq!(r.sub(b"A", b"x", None, 0), RemoteChange::Added);
        assert_eq!(r.sub(b"A", b"x", None, 0), RemoteChange::Unchanged);
        assert_eq!(r.unsub(b"$G", b"q", Some(b"g")), RemoteChange::Removed(Some(7)));
        assert_eq!(r.unsub(b"$G", b"q", Some(b"g")), RemoteChange::Unchanged);
        assert_eq!(r.len(), 1);
    }
}
