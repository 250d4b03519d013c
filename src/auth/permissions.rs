//! Compiled permissions: built once per identity, checked per message without walking
//! over the configured strings.
use super::config::{PermissionsConfig, ResponsePermission, RuleLists};
use crate::subject;
use ahash::AHashMap;
use std::time::{Duration, Instant};

/// A set of subject patterns compiled into a token trie: `matches(subject)` is true when
/// any pattern matches the literal (or wildcard-carrying) published subject.
#[derive(Debug, Default, Clone)]
pub struct Matcher {
    root: MNode,
    patterns: Vec<Box<[u8]>>,
}

#[derive(Debug, Default, Clone)]
struct MNode {
    literal: AHashMap<Box<[u8]>, MNode>,
    pwc: Option<Box<MNode>>,
    /// A `>` pattern ends here: everything below matches.
    fwc: bool,
    /// A pattern ends exactly here.
    end: bool,
}

impl Matcher {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut m = Matcher::default();
        for p in patterns {
            m.add(p);
        }
        m
    }

    fn add(&mut self, pattern: &[u8]) {
        self.patterns.push(pattern.into());
        let mut node = &mut self.root;
        for tok in subject::tokens(pattern) {
            if tok == b">" {
                node.fwc = true;
                return;
            }
            node = if tok == b"*" {
                node.pwc.get_or_insert_with(Default::default)
            } else {
                node.literal.entry(tok.into()).or_default()
            };
        }
        node.end = true;
    }

    /// Whether a message published to `subject` matches one of the patterns. A wildcard
    /// token in the subject itself only matches the same wildcard (as in the trie).
    pub fn matches(&self, subject: &[u8]) -> bool {
        if subject.is_empty() {
            return false;
        }
        let toks: smallvec::SmallVec<[&[u8]; 16]> = subject::tokens(subject).collect();
        fn walk(n: &MNode, toks: &[&[u8]]) -> bool {
            let Some((first, rest)) = toks.split_first() else { return n.end };
            if n.fwc {
                return true;
            }
            if let Some(p) = &n.pwc {
                if walk(p, rest) {
                    return true;
                }
            }
            if *first == b"*" {
                return false; // only a pattern `*` covers a published `*`
            }
            n.literal.get(*first).is_some_and(|c| walk(c, rest))
        }
        walk(&self.root, &toks)
    }

    /// Whether every subject `sub` can match is covered by one pattern (a subscription
    /// to `foo.>` is not covered by `foo.*`).
    pub fn covers(&self, sub: &[u8]) -> bool {
        self.patterns.iter().any(|p| subject::subject_is_subset(sub, p))
    }

    /// Whether some subject matched by `sub` is matched by a pattern (used for deny lists
    /// against wildcard subscriptions).
    pub fn overlaps(&self, sub: &[u8]) -> bool {
        self.patterns.iter().any(|p| overlap(sub, p))
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

/// Whether two patterns can match a common subject.
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let ta: Vec<&[u8]> = subject::tokens(a).collect();
    let tb: Vec<&[u8]> = subject::tokens(b).collect();
    let mut i = 0;
    loop {
        match (ta.get(i), tb.get(i)) {
            (Some(&x), _) if x == b">" => return tb.len() > i,
            (_, Some(&y)) if y == b">" => return ta.len() > i,
            (None, None) => return true,
            (None, _) | (_, None) => return false,
            (Some(&x), Some(&y)) => {
                if x != b"*" && y != b"*" && x != y {
                    return false;
                }
            }
        }
        i += 1;
    }
}

/// Allow and deny lists of one direction.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    /// `None`: everything is allowed (before deny).
    pub allow: Option<Matcher>,
    pub deny: Option<Matcher>,
}

impl Rules {
    fn compile(r: &RuleLists) -> (Rules, Vec<(String, Option<String>)>) {
        let mut queue_entries = Vec::new();
        let mut plain = |list: &Option<Vec<String>>, keep_queues: bool| -> Option<Matcher> {
            list.as_ref().map(|l| {
                let mut subjects = Vec::new();
                for e in l {
                    let mut parts = e.split_whitespace();
                    let s = parts.next().unwrap_or("");
                    match parts.next() {
                        Some(q) if keep_queues => queue_entries.push((s.to_string(), Some(q.to_string()))),
                        _ => subjects.push(s.as_bytes()),
                    }
                }
                Matcher::new(subjects)
            })
        };
        let allow = plain(&r.allow, true);
        let deny = plain(&r.deny, false);
        (Rules { allow, deny }, queue_entries)
    }
}

/// An allow entry `"subject queue"`: (subject pattern, queue pattern).
pub type QueueEntry = (Box<[u8]>, Box<[u8]>);

/// One identity's compiled permissions.
#[derive(Debug, Default, Clone)]
pub struct Permissions {
    pub publish: Option<Rules>,
    pub subscribe: Option<Rules>,
    /// `"subject queue"` allow entries: that queue (which may be a wildcard) only.
    pub queue_allow: Vec<QueueEntry>,
    pub allow_responses: Option<ResponsePermission>,
}

impl Permissions {
    pub fn compile(cfg: &PermissionsConfig) -> Permissions {
        let publish = cfg.publish.as_ref().map(|r| Rules::compile(r).0);
        let (subscribe, queues) = match &cfg.subscribe {
            Some(r) => {
                let (rules, q) = Rules::compile(r);
                (Some(rules), q)
            }
            None => (None, Vec::new()),
        };
        let queue_allow = queues
            .into_iter()
            .filter_map(|(s, q)| Some((s.into_bytes().into(), q?.into_bytes().into())))
            .collect();
        Permissions { publish, subscribe, queue_allow, allow_responses: cfg.allow_responses.clone() }
    }

    /// Publish check by the lists alone (`allow_responses` is the caller's).
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        let Some(r) = &self.publish else { return true };
        if let Some(a) = &r.allow {
            if !a.matches(subject) {
                return false;
            }
        }
        !r.deny.as_ref().is_some_and(|d| d.matches(subject))
    }

    /// Subscribe check: the subscription must be covered by an allow entry (a queue
    /// entry for queue subscriptions too) and not covered by a deny entry.
    pub fn can_subscribe(&self, subject: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(r) = &self.subscribe else { return true };
        let allowed = match &r.allow {
            None => true,
            Some(plain) => {
                let mut ok = plain.covers(subject);
                if let Some(q) = queue {
                    // Queue entries covering this subject decide for queue subscriptions.
                    let mut entries = self.queue_allow.iter().filter(|(s, _)| subject::subject_is_subset(subject, s)).peekable();
                    if entries.peek().is_some() {
                        ok = entries.any(|(_, qp)| subject::matches(qp, q));
                    }
                }
                ok
            }
        };
        allowed && !r.deny.as_ref().is_some_and(|d| d.covers(subject))
    }

    /// A wildcard subscription that a deny entry partly overlaps gets each delivery
    /// checked against the deny list.
    pub fn needs_delivery_filter(&self, subject: &[u8]) -> bool {
        self.subscribe.as_ref().and_then(|r| r.deny.as_ref()).is_some_and(|d| d.overlaps(subject))
    }

    pub fn deny_delivery(&self, subject: &[u8]) -> bool {
        self.subscribe.as_ref().and_then(|r| r.deny.as_ref()).is_some_and(|d| d.matches(subject))
    }
}

/// Per-connection memo of publish decisions (nats-server keeps 128, pruning when full).
#[derive(Debug, Default)]
pub struct PubDecisions {
    map: AHashMap<Box<[u8]>, bool>,
    /// The last subject and its decision: publishers repeat subjects, and one compare is
    /// cheaper than hashing (measured with `perf/permissions.sh`).
    last: Vec<u8>,
    last_ok: Option<bool>,
}

const PUB_DECISIONS: usize = 128;

impl PubDecisions {
    pub fn check(&mut self, perms: &Permissions, subject: &[u8]) -> bool {
        if let Some(ok) = self.last_ok {
            if self.last == subject {
                return ok;
            }
        }
        let ok = self.lookup(perms, subject);
        self.last.clear();
        self.last.extend_from_slice(subject);
        self.last_ok = Some(ok);
        ok
    }

    fn lookup(&mut self, perms: &Permissions, subject: &[u8]) -> bool {
        if let Some(&ok) = self.map.get(subject) {
            return ok;
        }
        let ok = perms.can_publish(subject);
        if self.map.len() >= PUB_DECISIONS {
            self.map.clear();
        }
        self.map.insert(subject.into(), ok);
        ok
    }
}

/// Reply subjects a connection may answer under `allow_responses`.
#[derive(Debug, Default)]
pub struct ResponseTracker {
    replies: AHashMap<Box<[u8]>, (Instant, u32)>,
}

/// Entries kept before stale ones are pruned (as nats-server).
const MAX_TRACKED_REPLIES: usize = 4096;

impl ResponseTracker {
    /// A message with `reply` was delivered to this connection.
    pub fn on_delivered(&mut self, reply: &[u8], now: Instant, perm: &ResponsePermission) {
        if self.replies.len() >= MAX_TRACKED_REPLIES {
            self.replies.retain(|_, (t, _)| now.saturating_duration_since(*t) < perm.expires);
        }
        self.replies.insert(reply.into(), (now, 0));
    }

    /// Whether a publish to `subject` is allowed as a response; counts it.
    pub fn try_respond(&mut self, subject: &[u8], now: Instant, perm: &ResponsePermission) -> bool {
        let Some((t, n)) = self.replies.get_mut(subject) else { return false };
        let expired = perm.expires > Duration::ZERO && now.saturating_duration_since(*t) > perm.expires;
        *n += 1;
        let over = perm.max > 0 && *n > perm.max;
        if expired || over {
            self.replies.remove(subject);
            return false;
        }
        if perm.max > 0 && *n == perm.max {
            self.replies.remove(subject);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::config::RuleLists;

    fn lists(allow: &[&str], deny: &[&str]) -> RuleLists {
        let v = |l: &[&str]| if l.is_empty() { None } else { Some(l.iter().map(|s| s.to_string()).collect()) };
        RuleLists { allow: v(allow), deny: v(deny) }
    }

    #[test]
    fn publish_allow_and_deny() {
        let p = Permissions::compile(&PermissionsConfig {
            publish: Some(lists(&["a.>", "b.*"], &["a.secret"])),
            ..Default::default()
        });
        assert!(p.can_publish(b"a.x.y"));
        assert!(p.can_publish(b"b.x"));
        assert!(!p.can_publish(b"b.x.y"));
        assert!(!p.can_publish(b"a.secret"));
        assert!(!p.can_publish(b"c"));
    }

    #[test]
    fn subscribe_needs_coverage_and_queue_rules() {
        let p = Permissions::compile(&PermissionsConfig {
            subscribe: Some(lists(&["foo.*", "bar q1"], &["foo.secret"])),
            ..Default::default()
        });
        assert!(p.can_subscribe(b"foo.x", None));
        assert!(!p.can_subscribe(b"foo.>", None), "foo.* does not grant foo.>");
        assert!(!p.can_subscribe(b"foo.secret", None));
        assert!(!p.can_subscribe(b"bar", None), "queue entry does not allow a plain sub");
        assert!(p.can_subscribe(b"bar", Some(b"q1")));
        assert!(!p.can_subscribe(b"bar", Some(b"q2")));
        assert!(p.can_subscribe(b"foo.x", Some(b"any")), "plain entry allows any queue");
        assert!(p.needs_delivery_filter(b"foo.*"));
        assert!(p.deny_delivery(b"foo.secret"));
    }

    #[test]
    fn responses_max_and_expiry() {
        let perm = ResponsePermission { max: 2, expires: Duration::from_secs(1) };
        let mut t = ResponseTracker::default();
        let now = Instant::now();
        t.on_delivered(b"r.1", now, &perm);
        assert!(t.try_respond(b"r.1", now, &perm));
        assert!(t.try_respond(b"r.1", now, &perm));
        assert!(!t.try_respond(b"r.1", now, &perm));
        t.on_delivered(b"r.2", now, &perm);
        assert!(!t.try_respond(b"r.2", now + Duration::from_millis(1500), &perm));
    }

    #[test]
    fn overlap_of_patterns() {
        assert!(overlap(b"foo.*", b"foo.secret"));
        assert!(overlap(b"foo.>", b"foo.a.b"));
        assert!(!overlap(b"foo.*", b"bar.*"));
        assert!(!overlap(b"foo.*", b"foo.a.b"));
        assert!(overlap(b">", b"x"));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn token() -> impl Strategy<Value = String> {
            prop_oneof![Just("a".to_string()), Just("b".to_string()), Just("c".to_string()), Just("*".to_string())]
        }
        fn pattern() -> impl Strategy<Value = String> {
            (prop::collection::vec(token(), 1..4), any::<bool>()).prop_map(|(mut t, fwc)| {
                if fwc {
                    t.push(">".into());
                }
                t.join(".")
            })
        }
        fn literal() -> impl Strategy<Value = String> {
            prop::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 1..5).prop_map(|t| t.join("."))
        }

        proptest! {
            #[test]
            fn compiled_matcher_agrees_with_naive(pats in prop::collection::vec(pattern(), 0..8), subj in literal()) {
                let m = Matcher::new(pats.iter().map(|p| p.as_bytes()));
                let naive = pats.iter().any(|p| subject::matches(p.as_bytes(), subj.as_bytes()));
                prop_assert_eq!(m.matches(subj.as_bytes()), naive);
            }

            #[test]
            fn rules_agree_with_naive(allow in prop::collection::vec(pattern(), 0..5), deny in prop::collection::vec(pattern(), 0..5), subj in literal()) {
                let a: Vec<&str> = allow.iter().map(String::as_str).collect();
                let d: Vec<&str> = deny.iter().map(String::as_str).collect();
                let p = Permissions::compile(&PermissionsConfig { publish: Some(lists(&a, &d)), ..Default::default() });
                let m = |l: &[String]| l.iter().any(|x| subject::matches(x.as_bytes(), subj.as_bytes()));
                let naive = (allow.is_empty() || m(&allow)) && !m(&deny);
                prop_assert_eq!(p.can_publish(subj.as_bytes()), naive);
            }
        }
    }
}
