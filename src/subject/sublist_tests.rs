//! Tests for `Sublist` (unit and property tests).
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::subject::sub::ConnRef;
use crate::subject::validate::{matches, subject_is_subset};
use crate::subject::MatchCache;

fn owner() -> ConnRef {
    ConnRef {
        worker: 0,
        slot: 0,
        cid: 1,
    }
}

fn sub(subject: &str) -> Arc<Subscription> {
    Arc::new(Subscription::new(subject.as_bytes(), None, b"1", owner()))
}

fn qsub(subject: &str, q: &str) -> Arc<Subscription> {
    Arc::new(Subscription::new(
        subject.as_bytes(),
        Some(q.as_bytes()),
        b"1",
        owner(),
    ))
}

fn subjects(r: &SubResult) -> Vec<String> {
    let mut v: Vec<String> = r
        .iter()
        .map(|s| String::from_utf8_lossy(&s.subject).into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Sublist>();
    check::<SubResult>();
}

#[test]
fn insert_rejects_invalid() {
    let l = Sublist::new();
    for s in ["", "foo..bar", "foo.>.bar", "foo.", ">.a", ".a", "a.>.b"] {
        assert_eq!(l.insert(sub(s)), Err(SubjectError::Invalid), "{s:?}");
    }
    assert_eq!(l.count(), 0);
    assert_eq!(l.generation(), 0);
    assert_eq!(SubjectError::Invalid.to_string(), "Invalid Subject");
    // a* is a literal
    l.insert(sub("a*.b")).expect("valid");
    assert_eq!(l.match_subject(b"a*.b").psubs.len(), 1);
    assert_eq!(l.match_subject(b"ab.b").psubs.len(), 0);
}

#[test]
fn literal_and_wildcards() {
    let l = Sublist::new();
    for s in [
        "foo.bar",
        "foo.*",
        "foo.>",
        "*.bar",
        ">",
        "*.*",
        "foo.bar.baz",
        "*",
        "bar",
    ] {
        l.insert(sub(s)).expect("valid");
    }
    assert_eq!(l.count(), 9);
    assert_eq!(
        subjects(&l.match_subject(b"foo.bar")),
        ["*.*", "*.bar", ">", "foo.*", "foo.>", "foo.bar"]
    );
    assert_eq!(
        subjects(&l.match_subject(b"foo.bar.baz")),
        [">", "foo.>", "foo.bar.baz"]
    );
    assert_eq!(subjects(&l.match_subject(b"foo")), ["*", ">"]);
    assert_eq!(subjects(&l.match_subject(b"bar")), ["*", ">", "bar"]);
    // Wildcards in the published subject match token-wise.
    assert_eq!(
        subjects(&l.match_subject(b"foo.*")),
        ["*.*", ">", "foo.*", "foo.>"]
    );
    assert_eq!(
        subjects(&l.match_subject(b"foo.>")),
        ["*.*", ">", "foo.*", "foo.>"]
    );
    assert_eq!(subjects(&l.match_subject(b"*.bar")), ["*.*", "*.bar", ">"]);
    // Empty tokens match nothing.
    for s in ["", "foo.", ".foo", "foo..bar", "."] {
        assert!(l.match_subject(s.as_bytes()).is_empty(), "{s:?}");
    }
}

#[test]
fn queue_groups() {
    let l = Sublist::new();
    let (a, b, c, d) = (
        qsub("foo.*", "q1"),
        qsub("foo.bar", "q1"),
        qsub("foo.>", "q2"),
        sub("foo.bar"),
    );
    for s in [&a, &b, &c, &d] {
        l.insert(s.clone()).expect("valid");
    }
    let r = l.match_subject(b"foo.bar");
    assert_eq!(r.psubs.len(), 1);
    assert_eq!(r.qsubs.len(), 2);
    let q1 = r.find_queue(b"q1").expect("q1 group");
    assert_eq!(r.qsubs[q1].len(), 2);
    assert_eq!(r.queue_name(q1), Some(&b"q1"[..]));
    let q2 = r.find_queue(b"q2").expect("q2 group");
    assert!(Arc::ptr_eq(&r.qsubs[q2][0], &c));
    assert!(l.remove(&a));
    assert!(l.remove(&b));
    let r = l.match_subject(b"foo.bar");
    assert_eq!(r.qsubs.len(), 1);
    assert!(r.find_queue(b"q1").is_none());
}

#[test]
fn remove_identity_and_pruning() {
    let l = Sublist::new();
    let a = sub("foo.bar.baz");
    let a2 = sub("foo.bar.baz");
    let w = sub("*.>");
    let q = qsub("foo.*", "q");
    for s in [&a, &a2, &w, &q] {
        l.insert(s.clone()).expect("valid");
    }
    let g = l.generation();
    assert_eq!(g, 4);
    assert!(l.remove(&a));
    assert!(!l.remove(&a), "second remove finds nothing");
    assert!(!l.remove(&sub("foo.bar.baz")), "identity, not subject");
    assert!(!l.remove(&sub("foo..bar")));
    assert_eq!(l.generation(), g + 1);
    assert_eq!(l.match_subject(b"foo.bar.baz").psubs.len(), 2);
    assert!(!l.is_pruned_empty());
    l.remove_batch(&[a2.clone(), w.clone(), q.clone(), a.clone()]);
    assert_eq!(l.count(), 0);
    assert!(l.is_pruned_empty(), "all nodes pruned");
    let st = l.stats();
    assert_eq!(
        (st.num_inserts, st.num_removes, st.num_subscriptions),
        (4, 4, 0)
    );
    assert!(l.match_subject(b"foo.bar.baz").is_empty());
}

/// Issue 14 item 15: adding and removing on a node that holds very many plain
/// subscriptions or queue groups costs O(1) each, not a scan of the node. With a
/// position scan these loops were quadratic (tens of seconds); the bound is generous.
#[test]
fn many_subs_and_groups_on_one_subject_add_and_remove_fast() {
    let started = std::time::Instant::now();
    let l = Sublist::new();
    let plain: Vec<_> = (0..100_000).map(|_| sub("hot.subject")).collect();
    let queued: Vec<_> = (0..50_000).map(|i| qsub("hot.subject", &format!("g{i}"))).collect();
    for s in plain.iter().chain(&queued) {
        l.insert(s.clone()).expect("valid");
    }
    let r = l.match_subject(b"hot.subject");
    assert_eq!((r.psubs.len(), r.qsubs.len()), (100_000, 50_000));
    // Remove in insertion order (worst case for a scan from the front after swaps),
    // one by one for half, the rest as a connection close would.
    for s in plain.iter().step_by(2).chain(queued.iter().step_by(2)) {
        assert!(l.remove(s));
    }
    let r = l.match_subject(b"hot.subject");
    assert_eq!((r.psubs.len(), r.qsubs.len()), (50_000, 25_000));
    let gen = l.generation();
    let rest: Vec<_> = plain.iter().skip(1).step_by(2).chain(queued.iter().skip(1).step_by(2)).cloned().collect();
    l.remove_batch(&rest);
    assert!(l.generation() > gen + 1, "chunked: one generation bump per lock hold");
    assert_eq!(l.count(), 0);
    assert!(l.is_pruned_empty());
    let elapsed = started.elapsed();
    assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn same_subscription_twice_is_one() {
    let l = Sublist::new();
    let a = sub("a.b");
    l.insert(a.clone()).expect("valid");
    l.insert(a.clone()).expect("valid");
    assert_eq!(l.count(), 1);
    assert_eq!(l.match_subject(b"a.b").psubs.len(), 1);
    assert!(l.remove(&a));
    assert!(l.is_pruned_empty());
}

#[test]
fn remove_keeps_siblings() {
    let l = Sublist::new();
    let a = sub("a.b.c");
    let b = sub("a.b");
    let c = sub("a.b.d");
    for s in [&a, &b, &c] {
        l.insert(s.clone()).expect("valid");
    }
    assert!(l.remove(&b));
    assert_eq!(l.match_subject(b"a.b.c").psubs.len(), 1);
    assert_eq!(l.match_subject(b"a.b.d").psubs.len(), 1);
    assert!(l.remove(&a));
    assert!(l.remove(&c));
    assert!(l.is_pruned_empty());
}

#[test]
fn all_lists_every_sub() {
    let l = Sublist::new();
    for s in ["a", "b.c", "*.d", ">", "e.>"] {
        l.insert(sub(s)).expect("valid");
    }
    l.insert(qsub("a", "q")).expect("valid");
    assert_eq!(l.all().len(), 6);
}

#[test]
fn concurrent_readers_and_writers() {
    let l = Arc::new(Sublist::new());
    let keep = sub("x.>");
    l.insert(keep.clone()).expect("valid");
    std::thread::scope(|s| {
        for t in 0..2 {
            let l = l.clone();
            s.spawn(move || {
                for i in 0..2000 {
                    let su = sub(&format!("x.{t}.{i}"));
                    l.insert(su.clone()).expect("valid");
                    assert!(l.remove(&su));
                }
            });
        }
        let l = l.clone();
        s.spawn(move || {
            let mut c = MatchCache::new(16);
            for i in 0..4000 {
                let r = c.lookup(&l, format!("x.0.{}", i % 7).as_bytes());
                assert!(r.iter().any(|s| Arc::ptr_eq(s, &keep)));
            }
        });
    });
    assert_eq!(l.count(), 1);
}

// ---- property tests ----

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "ab"]).prop_map(String::from),
        1 => Just("*".to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(token(), 1..4),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(mut t, fwc)| {
            if fwc {
                t.push(">".into());
            }
            t.join(".")
        })
}

fn published() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(token(), 1..5).prop_map(|t| t.join(".")),
        1 => pattern(),
        1 => prop::sample::select(vec!["", "a.", ".a", "a..b", ">", "a.>"]).prop_map(String::from),
    ]
}

fn naive(subs: &[Arc<Subscription>], subject: &str) -> Vec<usize> {
    let mut v: Vec<usize> = subs
        .iter()
        .filter(|s| matches(&s.subject, subject.as_bytes()))
        .map(|s| Arc::as_ptr(s) as usize)
        .collect();
    v.sort_unstable();
    v
}

fn trie_ids(r: &SubResult) -> Vec<usize> {
    let mut v: Vec<usize> = r.iter().map(|s| Arc::as_ptr(s) as usize).collect();
    v.sort_unstable();
    v
}

/// Every queue group holds only members of one queue name, and names are distinct.
fn groups_ok(r: &SubResult) -> bool {
    let mut names: Vec<&[u8]> = Vec::new();
    for g in &r.qsubs {
        let Some(name) = g.first().and_then(|s| s.queue.as_deref()) else {
            return false;
        };
        if g.iter().any(|s| s.queue.as_deref() != Some(name)) || names.contains(&name) {
            return false;
        }
        names.push(name);
    }
    r.psubs.iter().all(|s| s.queue.is_none())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn trie_matches_naive(
        pats in prop::collection::vec((pattern(), prop::option::weighted(0.3, prop::sample::select(vec!["q1", "q2"]))), 0..40),
        pubs in prop::collection::vec(published(), 1..20),
        removes in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let l = Sublist::new();
        let mut live: Vec<Arc<Subscription>> = Vec::new();
        for (p, q) in &pats {
            let s = Arc::new(Subscription::new(p.as_bytes(), q.map(str::as_bytes), b"1", owner()));
            l.insert(s.clone()).expect("generated patterns are valid");
            live.push(s);
        }
        let mut cache = MatchCache::new(4);
        let check = |l: &Sublist, live: &[Arc<Subscription>], cache: &mut MatchCache| -> Result<(), TestCaseError> {
            for p in &pubs {
                let r = l.match_subject(p.as_bytes());
                prop_assert_eq!(trie_ids(&r), naive(live, p), "subject {:?}", p);
                prop_assert!(groups_ok(&r));
                let c = cache.lookup(l, p.as_bytes());
                prop_assert_eq!(trie_ids(&c), naive(live, p), "cached {:?}", p);
            }
            Ok(())
        };
        check(&l, &live, &mut cache)?;
        for idx in &removes {
            if live.is_empty() {
                break;
            }
            let s = live.swap_remove(idx.index(live.len()));
            prop_assert!(l.remove(&s));
            prop_assert!(!l.remove(&s));
        }
        prop_assert_eq!(l.count(), live.len());
        check(&l, &live, &mut cache)?;
        l.remove_batch(&live);
        prop_assert_eq!(l.count(), 0);
        prop_assert!(l.is_pruned_empty());
    }

    #[test]
    fn subset_agrees_with_matching(a in pattern(), b in pattern(), subj in prop::collection::vec(token(), 1..6)) {
        // If a ⊆ b, every subject a matches is matched by b.
        let s = subj.join(".");
        if subject_is_subset(a.as_bytes(), b.as_bytes()) && matches(a.as_bytes(), s.as_bytes()) {
            prop_assert!(matches(b.as_bytes(), s.as_bytes()), "{} <= {} but {} only matches the first", a, b, s);
        }
        // A pattern is a subset of itself and of '>'.
        prop_assert!(subject_is_subset(a.as_bytes(), a.as_bytes()));
        prop_assert!(subject_is_subset(a.as_bytes(), b">"));
        // A literal subject is a subset of a pattern exactly when the pattern matches it.
        if !s.split('.').any(|t| t == "*") {
            prop_assert_eq!(subject_is_subset(s.as_bytes(), b.as_bytes()), matches(b.as_bytes(), s.as_bytes()));
        }
    }
}

/// Expected sets recorded from nats-server 2.9.10 (SUB each pattern, PUB each subject).
#[test]
fn agrees_with_nats_server_2_9_10() {
    let pats = [
        "foo.*",
        "foo.>",
        "foo.bar",
        "*.*",
        "*.>",
        ">",
        "*",
        "foo.*.bar",
        "a*.b",
        "*.bar",
    ];
    let l = Sublist::new();
    for p in pats {
        l.insert(sub(p)).expect("valid");
    }
    let expect: [(&str, &[&str]); 11] = [
        ("foo.*", &["*.*", "*.>", ">", "foo.*", "foo.>"]),
        ("foo.>", &["*.*", "*.>", ">", "foo.*", "foo.>"]),
        ("*.bar", &["*.*", "*.>", "*.bar", ">"]),
        (">", &["*", ">"]),
        ("*", &["*", ">"]),
        (
            "foo.bar",
            &["*.*", "*.>", "*.bar", ">", "foo.*", "foo.>", "foo.bar"],
        ),
        ("a*.b", &["*.*", "*.>", ">", "a*.b"]),
        ("foo.*.bar", &["*.>", ">", "foo.*.bar", "foo.>"]),
        ("foo.>.bar", &["*.>", ">", "foo.*.bar", "foo.>"]),
        ("foo..bar", &[]),
        ("foo.", &[]),
    ];
    for (p, want) in expect {
        assert_eq!(subjects(&l.match_subject(p.as_bytes())), want, "PUB {p}");
        let mut naive: Vec<&str> = pats
            .iter()
            .copied()
            .filter(|s| matches(s.as_bytes(), p.as_bytes()))
            .collect();
        naive.sort_unstable();
        assert_eq!(naive, want, "matches() for PUB {p}");
    }
}
