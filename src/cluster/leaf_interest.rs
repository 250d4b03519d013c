//! Interest for leaf links, sans-IO (nats-server `initLeafNodeSmapAndSendSubs`,
//! `updateSmap`).
//!
//! A link is told the interest of its account: this server's clients, plus what the
//! other links learned — all of them when we are the hub on that link, only the links
//! we are the hub of when we are the spoke (a spoke does not pass one hub's interest to
//! another). Each link keeps what it was last told, so an LS+/LS- goes out only when
//! that changes: plain subjects on 0↔1, queue groups with their member count. Nothing
//! is ever sent back to the link it came from.
use super::encode::{write_ls_minus, write_ls_plus};
use super::interest::key;
use std::collections::HashMap;

/// Whether a link may be told about `subject` (its deny_imports, the hub user's
/// permissions).
pub type Advertise = Box<dyn Fn(&[u8]) -> bool + Send>;

#[derive(Debug, Clone)]
struct Meta {
    account: Box<[u8]>,
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

struct Link {
    cid: u64,
    account: Box<[u8]>,
    hub_role: bool,
    advertise: Advertise,
    /// Key → weight this link announced.
    learned: HashMap<Vec<u8>, u32>,
    /// Key → what we last told it (1 for plain subjects, the weight for queues).
    sent: HashMap<Vec<u8>, u32>,
    pending: Vec<u8>,
}

/// All leaf interest of this server.
#[derive(Default)]
pub struct LeafInterest {
    /// Key → (subject parts, local client count).
    local: HashMap<Vec<u8>, (Meta, u32)>,
    /// Key → (subject parts, number of routes with that interest): told to the links
    /// we are the hub of only (a spoke never passes route interest to its hub).
    routed: HashMap<Vec<u8>, (Meta, u32)>,
    /// Key → subject parts, for keys only links know.
    meta: HashMap<Vec<u8>, Meta>,
    links: Vec<Link>,
}

impl LeafInterest {
    fn meta(&self, k: &[u8]) -> Option<Meta> {
        self.local
            .get(k)
            .or_else(|| self.routed.get(k))
            .map(|(m, _)| m.clone())
            .or_else(|| self.meta.get(k).cloned())
    }

    /// What link `i` should be told for key `k` (0: nothing).
    fn desired(&self, i: usize, k: &[u8], m: &Meta) -> u32 {
        let l = &self.links[i];
        if l.account != m.account || !(l.advertise)(&m.subject) {
            return 0;
        }
        let mut n = self.local.get(k).map_or(0, |(_, c)| *c);
        if l.hub_role {
            n += self.routed.get(k).map_or(0, |(_, c)| *c);
        }
        for (j, o) in self.links.iter().enumerate() {
            if j != i && o.account == l.account && (l.hub_role || o.hub_role) {
                n += o.learned.get(k).copied().unwrap_or(0);
            }
        }
        if m.queue.is_none() {
            n.min(1)
        } else {
            n
        }
    }

    /// Brings link `i` up to date for key `k`; whether a line was queued.
    fn refresh_link(&mut self, i: usize, k: &[u8], m: &Meta) -> bool {
        let want = self.desired(i, k, m);
        let l = &mut self.links[i];
        let had = l.sent.get(k).copied().unwrap_or(0);
        if want == had {
            return false;
        }
        if want == 0 {
            l.sent.remove(k);
            write_ls_minus(&mut l.pending, &m.subject, m.queue.as_deref());
        } else {
            l.sent.insert(k.to_vec(), want);
            write_ls_plus(&mut l.pending, &m.subject, m.queue.as_deref().map(|q| (q, want)));
        }
        true
    }

    fn refresh(&mut self, k: &[u8]) -> bool {
        let Some(m) = self.meta(k) else { return false };
        let mut queued = false;
        for i in 0..self.links.len() {
            queued |= self.refresh_link(i, k, &m);
        }
        if !self.local.contains_key(k) && !self.routed.contains_key(k) && !self.links.iter().any(|l| l.learned.contains_key(k)) {
            self.meta.remove(k);
        }
        queued
    }

    /// One more (`add`) or one fewer local subscription. Whether lines were queued.
    pub fn local_changed(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, add: bool) -> bool {
        self.counted_changed(false, account, subject, queue, add)
    }

    /// A route announced (`add`) or withdrew interest (nats-server passes route
    /// subscriptions to the leafs it is the hub of). Whether lines were queued.
    pub fn routed_changed(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>, add: bool) -> bool {
        self.counted_changed(true, account, subject, queue, add)
    }

    fn counted_changed(&mut self, routed: bool, account: &[u8], subject: &[u8], queue: Option<&[u8]>, add: bool) -> bool {
        let k = key(account, subject, queue);
        let map = if routed { &mut self.routed } else { &mut self.local };
        if add {
            let e = map.entry(k.clone()).or_insert_with(|| {
                (Meta { account: account.into(), subject: subject.into(), queue: queue.map(Into::into) }, 0)
            });
            e.1 += 1;
        } else {
            let Some(e) = map.get_mut(&k) else { return false };
            e.1 = e.1.saturating_sub(1);
            if e.1 == 0 {
                if let Some((m, _)) = map.remove(&k) {
                    self.meta.insert(k.clone(), m);
                }
            }
        }
        self.refresh(&k)
    }

    /// A new link: its full interest (our `$LDS.` subject first) goes to `out`.
    pub fn add_link(&mut self, cid: u64, account: &[u8], hub_role: bool, advertise: Advertise, lds: &[u8], out: &mut Vec<u8>) {
        write_ls_plus(out, lds, None);
        self.links.push(Link {
            cid,
            account: account.into(),
            hub_role,
            advertise,
            learned: HashMap::new(),
            sent: HashMap::new(),
            pending: Vec::new(),
        });
        let i = self.links.len() - 1;
        let mut keys: Vec<Vec<u8>> = self.local.keys().chain(self.routed.keys()).chain(self.meta.keys()).cloned().collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            if let Some(m) = self.meta(&k) {
                self.refresh_link(i, &k, &m);
            }
        }
        out.append(&mut self.links[i].pending);
    }

    fn link_index(&self, cid: u64) -> Option<usize> {
        self.links.iter().position(|l| l.cid == cid)
    }

    /// Link `cid` announced interest (`weight` 0: removed). Whether lines were queued
    /// for other links.
    pub fn learned(&mut self, cid: u64, subject: &[u8], queue: Option<&[u8]>, weight: Option<u32>) -> bool {
        let Some(i) = self.link_index(cid) else { return false };
        let account = self.links[i].account.clone();
        let k = key(&account, subject, queue);
        match weight {
            Some(w) => {
                let w = if queue.is_some() { w.max(1) } else { 1 };
                self.links[i].learned.insert(k.clone(), w);
                if !self.local.contains_key(&k) && !self.routed.contains_key(&k) {
                    self.meta.entry(k.clone()).or_insert_with(|| Meta {
                        account: account.clone(),
                        subject: subject.into(),
                        queue: queue.map(Into::into),
                    });
                }
            }
            None => {
                if self.links[i].learned.remove(&k).is_none() {
                    return false;
                }
            }
        }
        self.refresh(&k)
    }

    /// Link `cid` went: what it taught the others is withdrawn.
    pub fn remove_link(&mut self, cid: u64) -> bool {
        let Some(i) = self.link_index(cid) else { return false };
        let l = self.links.remove(i);
        let mut queued = false;
        for k in l.learned.keys() {
            queued |= self.refresh(k);
        }
        queued
    }

    /// Moves the queued lines out: `write(cid, bytes)`.
    pub fn drain(&mut self, mut write: impl FnMut(u64, &[u8])) {
        for l in &mut self.links {
            if !l.pending.is_empty() {
                write(l.cid, &l.pending);
                l.pending.clear();
            }
        }
    }

    /// What link `cid` announced: (subject, queue, weight), for `/leafz?subs=1`.
    pub fn learned_of(&self, cid: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>, u32)> {
        let Some(i) = self.link_index(cid) else { return Vec::new() };
        let mut v: Vec<_> = self.links[i]
            .learned
            .iter()
            .filter_map(|(k, w)| self.meta(k).map(|m| (m.subject.to_vec(), m.queue.map(|q| q.to_vec()), *w)))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Advertise {
        Box::new(|_| true)
    }

    fn drained(li: &mut LeafInterest) -> Vec<(u64, String)> {
        let mut v = Vec::new();
        li.drain(|cid, b| v.push((cid, String::from_utf8_lossy(b).into_owned())));
        v
    }

    #[test]
    fn sync_then_updates() {
        let mut li = LeafInterest::default();
        li.local_changed(b"$G", b"foo", None, true);
        li.local_changed(b"$G", b"q", Some(b"g"), true);
        li.local_changed(b"A", b"other", None, true);
        let mut out = Vec::new();
        li.add_link(1, b"$G", true, all(), b"$LDS.x", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "LS+ $LDS.x\r\nLS+ foo\r\nLS+ q g 1\r\n");
        assert!(li.local_changed(b"$G", b"q", Some(b"g"), true));
        assert!(!li.local_changed(b"$G", b"foo", None, true), "plain: 1→2 sends nothing");
        assert_eq!(drained(&mut li), vec![(1, "LS+ q g 2\r\n".into())]);
        li.local_changed(b"$G", b"foo", None, false);
        li.local_changed(b"$G", b"foo", None, false);
        li.local_changed(b"$G", b"q", Some(b"g"), false);
        assert_eq!(drained(&mut li), vec![(1, "LS- foo\r\nLS+ q g 1\r\n".into())]);
    }

    #[test]
    fn links_learn_from_each_other_but_not_themselves() {
        let mut li = LeafInterest::default();
        let mut out = Vec::new();
        li.add_link(1, b"$G", true, all(), b"$LDS.x", &mut out);
        li.add_link(2, b"$G", true, all(), b"$LDS.x", &mut out);
        li.add_link(3, b"$G", false, all(), b"$LDS.x", &mut out);
        drained(&mut li);
        assert!(li.learned(1, b"a", None, Some(0)));
        li.learned(1, b"w", Some(b"g"), Some(3));
        let got = drained(&mut li);
        assert_eq!(got, vec![(2, "LS+ a\r\nLS+ w g 3\r\n".into()), (3, "LS+ a\r\nLS+ w g 3\r\n".into())]);
        // What the hub (link 3, we are its spoke) told us goes to hub-role links only.
        li.learned(3, b"h", None, Some(0));
        assert_eq!(drained(&mut li), vec![(1, "LS+ h\r\n".into()), (2, "LS+ h\r\n".into())]);
        li.local_changed(b"$G", b"w", Some(b"g"), true);
        assert_eq!(drained(&mut li), vec![(1, "LS+ w g 1\r\n".into()), (2, "LS+ w g 4\r\n".into()), (3, "LS+ w g 4\r\n".into())]);
        assert!(li.remove_link(1));
        // A removed link's interest is walked in map order: compare each link's lines as a set.
        let sorted: Vec<(u64, Vec<String>)> = drained(&mut li)
            .into_iter()
            .map(|(cid, text)| {
                let mut lines: Vec<String> = text.split_inclusive("\r\n").map(str::to_string).collect();
                lines.sort();
                (cid, lines)
            })
            .collect();
        let want = vec!["LS+ w g 1\r\n".to_string(), "LS- a\r\n".to_string()];
        assert_eq!(sorted, vec![(2, want.clone()), (3, want)]);
        assert_eq!(li.learned_of(3), vec![(b"h".to_vec(), None, 1)]);
    }

    #[test]
    fn filtered_and_other_accounts() {
        let mut li = LeafInterest::default();
        let mut out = Vec::new();
        li.add_link(1, b"$G", false, Box::new(|s| !s.starts_with(b"secret")), b"$LDS.x", &mut out);
        assert!(!li.local_changed(b"$G", b"secret.a", None, true));
        assert!(!li.local_changed(b"B", b"x", None, true));
        assert!(li.local_changed(b"$G", b"ok", None, true));
        assert_eq!(drained(&mut li), vec![(1, "LS+ ok\r\n".into())]);
    }

    #[test]
    fn route_interest_reaches_hub_role_links_only() {
        let mut li = LeafInterest::default();
        li.routed_changed(b"$G", b"r", None, true);
        let (mut hub, mut spoke) = (Vec::new(), Vec::new());
        li.add_link(1, b"$G", true, all(), b"$LDS.x", &mut hub);
        li.add_link(2, b"$G", false, all(), b"$LDS.x", &mut spoke);
        assert_eq!(String::from_utf8(hub).unwrap(), "LS+ $LDS.x\r\nLS+ r\r\n");
        assert_eq!(String::from_utf8(spoke).unwrap(), "LS+ $LDS.x\r\n", "a spoke never passes route interest to its hub");
        li.routed_changed(b"$G", b"q", Some(b"g"), true);
        li.routed_changed(b"$G", b"q", Some(b"g"), true);
        li.local_changed(b"$G", b"r", None, true);
        assert_eq!(drained(&mut li), vec![(1, "LS+ q g 1\r\nLS+ q g 2\r\n".into()), (2, "LS+ r\r\n".into())]);
        li.routed_changed(b"$G", b"r", None, false);
        assert!(drained(&mut li).is_empty(), "still a local subscriber");
        li.routed_changed(b"$G", b"q", Some(b"g"), false);
        li.routed_changed(b"$G", b"q", Some(b"g"), false);
        li.local_changed(b"$G", b"r", None, false);
        assert_eq!(drained(&mut li), vec![(1, "LS+ q g 1\r\nLS- q g\r\nLS- r\r\n".into()), (2, "LS- r\r\n".into())]);
    }
}
