//! Compiled permissions: built once per identity, checked per message without walking
//! over the configured strings.
use super::config::{PermissionsConfig, ResponsePermission};
use crate::subject;
use ahash::AHashMap;
use std::sync::Arc;
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

    /// Whether a message published to `subject` matches one of the patterns, as a
    /// nats-server permission sublist answers it: a wildcard token in the subject is just
    /// a token, matched only by a pattern wildcard (so a deny `a.*` matches `SUB a.>`),
    /// and a subject with an empty token (`a..b`, `a.`) matches nothing. Allocation-free.
    pub fn matches(&self, subject: &[u8]) -> bool {
        if has_empty_token(subject) {
            return false;
        }
        fn walk(n: &MNode, rest: &[u8]) -> bool {
            let (first, rest) = match memchr::memchr(b'.', rest) {
                Some(i) => (&rest[..i], Some(&rest[i + 1..])),
                None => (rest, None),
            };
            if n.fwc {
                return true;
            }
            let next = |c: &MNode| match rest {
                Some(r) => walk(c, r),
                None => c.end,
            };
            if n.pwc.as_deref().is_some_and(next) {
                return true;
            }
            if first == b"*" {
                return false; // only a pattern `*` covers a published `*`
            }
            n.literal.get(first).is_some_and(next)
        }
        walk(&self.root, subject)
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

impl subject::DeliveryFilter for Matcher {
    fn denies(&self, subject: &[u8]) -> bool {
        self.matches(subject)
    }
}

/// Empty subject, leading or trailing dot, or two dots in a row.
fn has_empty_token(s: &[u8]) -> bool {
    s.is_empty() || s[0] == b'.' || s[s.len() - 1] == b'.' || memchr::memmem::find(s, b"..").is_some()
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
    /// Shared with the delivery filters of this identity's subscriptions.
    pub deny: Option<Arc<Matcher>>,
}

/// Entries of one list split into plain subjects and `"subject queue"` entries.
fn split_entries(list: &[String]) -> (Vec<&[u8]>, Vec<(String, String)>) {
    let mut plain = Vec::new();
    let mut queues = Vec::new();
    for e in list {
        let mut parts = e.split_whitespace();
        let s = parts.next().unwrap_or("");
        match parts.next() {
            Some(q) => queues.push((s.to_string(), q.to_string())),
            None => plain.push(s.as_bytes()),
        }
    }
    (plain, queues)
}

/// An allow entry `"subject queue"`: (subject pattern, queue pattern).
pub type QueueEntry = (Box<[u8]>, Box<[u8]>);

/// A subscribe deny entry `"subject queue"`: it denies that queue only.
#[derive(Debug, Clone)]
pub struct QueueDeny {
    subject: Matcher,
    queue: Box<[u8]>,
}

impl QueueDeny {
    /// nats-server's `queueMatches`: the same name, or a subscription queue inside a
    /// wildcard entry queue (`*` and `>` are also plain queue names).
    fn applies_to(&self, queue: &[u8]) -> bool {
        *self.queue == *queue || (subject::has_wildcard(&self.queue) && subject::subject_is_subset(queue, &self.queue))
    }
}

/// One identity's compiled permissions.
#[derive(Debug, Default, Clone)]
pub struct Permissions {
    pub publish: Option<Rules>,
    pub subscribe: Option<Rules>,
    /// `"subject queue"` allow entries: that queue (which may be a wildcard) only.
    pub queue_allow: Vec<QueueEntry>,
    /// `"subject queue"` deny entries: that queue only, not plain subscriptions.
    pub queue_deny: Vec<QueueDeny>,
    pub allow_responses: Option<ResponsePermission>,
    /// `types` in publish permissions (checked per publish only when present).
    pub types: Option<crate::trust::TypesPolicy>,
}

impl Permissions {
    pub fn compile(cfg: &PermissionsConfig) -> Permissions {
        // A publish entry has no queue: only its first word counts.
        let publish = cfg.publish.as_ref().map(|r| {
            let first = |l: &Vec<String>| Matcher::new(l.iter().map(|e| e.split_whitespace().next().unwrap_or("").as_bytes()));
            Rules { allow: r.allow.as_ref().map(first), deny: r.deny.as_ref().map(|l| Arc::new(first(l))) }
        });
        let mut queue_allow = Vec::new();
        let mut queue_deny = Vec::new();
        let subscribe = cfg.subscribe.as_ref().map(|r| {
            let allow = r.allow.as_ref().map(|l| {
                let (plain, queues) = split_entries(l);
                queue_allow.extend(queues.into_iter().map(|(s, q)| (s.into_bytes().into(), q.into_bytes().into())));
                Matcher::new(plain)
            });
            let deny = r.deny.as_ref().map(|l| {
                let (plain, queues) = split_entries(l);
                queue_deny.extend(
                    queues.iter().map(|(s, q)| QueueDeny { subject: Matcher::new([s.as_bytes()]), queue: q.as_bytes().into() }),
                );
                Arc::new(Matcher::new(plain))
            });
            Rules { allow, deny }
        });
        Permissions {
            publish,
            subscribe,
            queue_allow,
            queue_deny,
            allow_responses: cfg.allow_responses.clone(),
            types: cfg.types.as_ref().map(crate::trust::TypesPolicy::compile),
        }
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

    /// Subscribe check. Allow: the subscription must be covered by an allow entry (a
    /// queue entry for queue subscriptions too; stricter than nats-server). Deny: as
    /// nats-server, a deny entry matching the subscription's subject token by token
    /// refuses it (`data.secret.*` refuses `SUB data.secret.>`); a `"subject queue"`
    /// entry only refuses that queue. A plain deny entry refuses every queue (nats-server
    /// lets a queue subscription through when a queue entry for another queue also matches).
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
        if !allowed || r.deny.as_ref().is_some_and(|d| d.matches(subject)) {
            return false;
        }
        !queue.is_some_and(|q| self.queue_deny.iter().any(|d| d.applies_to(q) && d.subject.matches(subject)))
    }

    /// The delivery filter of an allowed subscription, if a deny entry that applies to
    /// it overlaps its subject: each message routed to it is checked against those
    /// entries. This is stricter than nats-server, which filters only for plain deny
    /// entries inside the subscription (so `SUB > badq` gets `jobs.x` despite a deny of
    /// `"jobs.* badq"` there).
    pub fn delivery_filter(&self, subject: &[u8], queue: Option<&[u8]>) -> Option<Arc<Matcher>> {
        let plain = self.subscribe.as_ref().and_then(|r| r.deny.as_ref());
        let plain_overlaps = plain.is_some_and(|d| d.overlaps(subject));
        let queued: Vec<&[u8]> = match queue {
            Some(q) => self
                .queue_deny
                .iter()
                .filter(|d| d.applies_to(q) && d.subject.overlaps(subject))
                .flat_map(|d| d.subject.patterns.iter().map(|p| &**p))
                .collect(),
            None => Vec::new(),
        };
        match (plain, queued.is_empty()) {
            (Some(d), true) if plain_overlaps => Some(d.clone()),
            (_, true) => None,
            (d, false) => {
                let mut all = queued;
                if plain_overlaps {
                    all.extend(d.into_iter().flat_map(|m| m.patterns.iter().map(|p| &**p)));
                }
                Some(Arc::new(Matcher::new(all)))
            }
        }
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
        let f = p.delivery_filter(b"foo.*", None).expect("foo.* overlaps the deny");
        assert!(f.matches(b"foo.secret") && !f.matches(b"foo.x"));
        assert!(p.delivery_filter(b"bar", Some(b"q1")).is_none());
    }

    #[test]
    fn subscribe_deny_matches_wildcards_like_nats_server() {
        let p = Permissions::compile(&PermissionsConfig {
            subscribe: Some(lists(&[], &["data.secret.*", "x.y", "w.>"])),
            ..Default::default()
        });
        for s in ["data.secret.>", "data.secret.*", "data.secret.x", "x.y", "w.*", "w.>", "w.a.b"] {
            assert!(!p.can_subscribe(s.as_bytes(), None), "{s} is refused");
            assert!(!p.can_subscribe(s.as_bytes(), Some(b"q")), "{s} q is refused");
        }
        for s in ["data.*.*", "data.>", ">", "data.secret", "data.secret.*.y", "x.*", "*.y", "w"] {
            assert!(p.can_subscribe(s.as_bytes(), None), "{s} is allowed (then filtered)");
        }
        assert!(p.delivery_filter(b"data.*.*", None).is_some());
        assert!(p.delivery_filter(b"data.secret", None).is_none());
    }

    #[test]
    fn queue_deny_entries_deny_only_that_queue() {
        let p = Permissions::compile(&PermissionsConfig {
            subscribe: Some(lists(&[], &["jobs.* badq", "w.> wq.*", "x.y"])),
            ..Default::default()
        });
        assert!(p.can_subscribe(b"jobs.x", None));
        assert!(p.can_subscribe(b"jobs.x", Some(b"goodq")));
        assert!(!p.can_subscribe(b"jobs.x", Some(b"badq")));
        assert!(!p.can_subscribe(b"jobs.*", Some(b"badq")));
        assert!(!p.can_subscribe(b"jobs.>", Some(b"badq")), "the entry matches the > token");
        assert!(p.can_subscribe(b"jobs.*", Some(b"bad*")), "bad* is a plain queue name");
        assert!(p.can_subscribe(b">", Some(b"badq")));
        assert!(!p.can_subscribe(b"w.a", Some(b"wq.1")), "wildcard entry queue");
        assert!(p.can_subscribe(b"w.a", Some(b"wq")));
        assert!(!p.can_subscribe(b"x.y", Some(b"badq")), "a plain entry denies every queue");
        // Stricter than nats-server: `> badq` is filtered for what the entry denies.
        let f = p.delivery_filter(b">", Some(b"badq")).expect("filter");
        assert!(f.matches(b"jobs.x") && f.matches(b"x.y") && !f.matches(b"other.x"));
        let plain = p.delivery_filter(b">", None).expect("x.y filter");
        assert!(!plain.matches(b"jobs.x") && plain.matches(b"x.y"));
        assert!(p.delivery_filter(b">", Some(b"goodq")).is_some_and(|f| !f.matches(b"jobs.x")));
        // nats-server lets this one through (a matching queue entry for another queue
        // overrides the plain entry); natrix does not.
        let p = Permissions::compile(&PermissionsConfig {
            subscribe: Some(lists(&[], &["x.y", "x.* q1"])),
            ..Default::default()
        });
        assert!(!p.can_subscribe(b"x.y", Some(b"q2")));
        assert!(!p.can_subscribe(b"x.z", Some(b"q1")));
        assert!(p.can_subscribe(b"x.z", Some(b"q2")));
    }

    #[test]
    fn empty_tokens_match_nothing() {
        let m = Matcher::new([&b"a.>"[..], b"b.*", b"a.secret", b">"]);
        for s in ["a.secret.", "a..secret", ".a.secret", "b.", ".b", "a.", "", "."] {
            assert!(!m.matches(s.as_bytes()), "{s:?}");
        }
        assert!(m.matches(b"a.secret") && m.matches(b"b.x"));
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
