//! One (unsynchronised) subscription trie, like nats-server's `level`/`node`.
//! `Sublist` holds several of these, each behind its own lock.
use std::sync::Arc;

use ahash::AHashMap;
use smallvec::SmallVec;

use super::result::{live, SubResult};
use super::sub::Subscription;
use super::subset::{QGroups, SubSet};
use super::validate::{is_fwc, is_pwc, tokens};

/// A token as a map key: short tokens live inline, without a heap block.
type TokenKey = SmallVec<[u8; 16]>;

#[derive(Debug, Default)]
struct Node {
    next: Option<Box<Level>>,
    psubs: SubSet,
    qsubs: QGroups,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.psubs.is_empty()
            && self.qsubs.is_empty()
            && self.next.as_ref().is_none_or(|l| l.is_empty())
    }

    /// False if this very subscription is already here.
    fn add_sub(&mut self, sub: Arc<Subscription>) -> bool {
        if sub.queue.is_none() {
            self.psubs.insert(sub)
        } else {
            self.qsubs.insert(sub)
        }
    }

    /// Removes `sub` (by identity) from this node's sets.
    fn remove_sub(&mut self, sub: &Arc<Subscription>) -> bool {
        match sub.queue.as_deref() {
            None => self.psubs.remove(sub),
            Some(q) => self.qsubs.remove(q, sub),
        }
    }

    fn add_to_result(&self, r: &mut SubResult) {
        // Closed ones (their connection is gone, waiting to be reaped) are left out: a
        // subject whose 200k subscribers just left must not clone 200k `Arc`s per match.
        r.psubs.extend(live(self.psubs.as_slice()));
        if !self.qsubs.is_empty() {
            r.add_queue_groups(self.qsubs.iter().map(|g| (&*g.name, g.subs.as_slice())));
        }
    }
}

#[derive(Debug, Default)]
struct Level {
    nodes: AHashMap<TokenKey, Node>,
    pwc: Option<Box<Node>>,
    fwc: Option<Box<Node>>,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }

    fn child_mut(&mut self, t: &[u8]) -> Option<&mut Node> {
        if is_pwc(t) {
            self.pwc.as_deref_mut()
        } else if is_fwc(t) {
            self.fwc.as_deref_mut()
        } else {
            self.nodes.get_mut(t)
        }
    }

    fn child_or_insert(&mut self, t: &[u8]) -> &mut Node {
        if is_pwc(t) {
            self.pwc.get_or_insert_with(Default::default)
        } else if is_fwc(t) {
            self.fwc.get_or_insert_with(Default::default)
        } else {
            // Look up with the borrowed token first so an existing node costs no allocation.
            if !self.nodes.contains_key(t) {
                return self.nodes.entry(TokenKey::from_slice(t)).or_default();
            }
            self.nodes.get_mut(t).expect("node present: checked above")
        }
    }

    fn prune(&mut self, t: &[u8]) {
        if is_pwc(t) {
            if self.pwc.as_ref().is_some_and(|n| n.is_empty()) {
                self.pwc = None;
            }
        } else if is_fwc(t) {
            if self.fwc.as_ref().is_some_and(|n| n.is_empty()) {
                self.fwc = None;
            }
        } else if self.nodes.get(t).is_some_and(Node::is_empty) {
            self.nodes.remove(t);
        }
    }
}

/// A subscription trie. Subjects must already be valid sub subjects
/// (`is_valid_sub_subject`); matching takes pre-split tokens.
#[derive(Debug, Default)]
pub(crate) struct Trie {
    root: Level,
}

impl Trie {
    pub(crate) fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Inserts `sub` under its (already validated) subject. False (nothing changes)
    /// when this very subscription is already in the trie.
    pub(crate) fn insert(&mut self, sub: Arc<Subscription>) -> bool {
        let mut toks = tokens(&sub.subject);
        let mut level = &mut self.root;
        // A valid subject has at least one token.
        let mut node = level.child_or_insert(toks.next().unwrap_or_default());
        for t in toks {
            level = node.next.get_or_insert_with(Default::default);
            node = level.child_or_insert(t);
        }
        node.add_sub(sub)
    }

    /// Removes `sub` (identity) and prunes nodes left empty. False if not present.
    pub(crate) fn remove(&mut self, sub: &Arc<Subscription>) -> bool {
        let toks: smallvec::SmallVec<[&[u8]; 16]> = tokens(&sub.subject).collect();
        remove_rec(&mut self.root, &toks, sub)
    }

    /// Adds every subscription matching the tokens of a published subject to `r`.
    /// The tokens must all be non-empty.
    pub(crate) fn match_into(&self, toks: &[&[u8]], r: &mut SubResult) {
        match_level(&self.root, toks, r);
    }

    /// Visits every subscription (monitoring, tests).
    pub(crate) fn for_each(&self, f: &mut dyn FnMut(&Arc<Subscription>)) {
        visit_level(&self.root, f);
    }
}

fn remove_rec(level: &mut Level, toks: &[&[u8]], sub: &Arc<Subscription>) -> bool {
    let Some((&t, rest)) = toks.split_first() else {
        return false;
    };
    let Some(node) = level.child_mut(t) else {
        return false;
    };
    let found = if rest.is_empty() {
        node.remove_sub(sub)
    } else {
        match node.next.as_deref_mut() {
            Some(next) => {
                let found = remove_rec(next, rest, sub);
                if next.is_empty() {
                    node.next = None;
                }
                found
            }
            None => false,
        }
    };
    if found {
        level.prune(t);
    }
    found
}

/// nats `matchLevel`: at each level add the `>` node, recurse into `*` with the
/// remaining tokens, follow the literal; at the end add the literal and last `*` node.
fn match_level(mut level: &Level, toks: &[&[u8]], r: &mut SubResult) {
    let mut pwc: Option<&Node> = None;
    let mut node: Option<&Node> = None;
    for (i, t) in toks.iter().enumerate() {
        if let Some(f) = level.fwc.as_deref() {
            f.add_to_result(r);
        }
        pwc = level.pwc.as_deref();
        if let Some(p) = pwc {
            if let Some(next) = p.next.as_deref() {
                if i + 1 < toks.len() {
                    match_level(next, &toks[i + 1..], r);
                }
            }
        }
        node = level.nodes.get(*t);
        match node.and_then(|n| n.next.as_deref()) {
            Some(next) => level = next,
            None => {
                if i + 1 < toks.len() {
                    return;
                }
            }
        }
    }
    if let Some(n) = node {
        n.add_to_result(r);
    }
    if let Some(p) = pwc {
        p.add_to_result(r);
    }
}

fn visit_level(level: &Level, f: &mut dyn FnMut(&Arc<Subscription>)) {
    let nodes = level
        .nodes
        .values()
        .chain(level.pwc.as_deref())
        .chain(level.fwc.as_deref());
    for n in nodes {
        n.psubs.as_slice().iter().for_each(&mut *f);
        n.qsubs.iter().flat_map(|g| g.subs.as_slice()).for_each(&mut *f);
        if let Some(next) = n.next.as_deref() {
            visit_level(next, f);
        }
    }
}
