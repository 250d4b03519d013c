//! Sublist benches: match (literal and wildcard subjects, cached and uncached) and
//! insert/remove, with 10, 10k and 1M subscriptions; insert/remove on one subject that
//! already holds 200k subscriptions or 100k queue groups (`one_subject/…`).
//!
//! Run: `cargo bench --bench trie` (add e.g. `-- match/10000` to filter).
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use natrix::subject::{ConnRef, MatchCache, Sublist, Subscription};

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];

fn owner(i: usize) -> ConnRef {
    ConnRef {
        worker: (i % 4) as u16,
        slot: i as u32,
        cid: i as u64,
    }
}

fn sub(subject: &str, queue: Option<&str>, i: usize) -> Arc<Subscription> {
    Arc::new(Subscription::new(
        subject.as_bytes(),
        queue.map(str::as_bytes),
        b"1",
        owner(i),
    ))
}

/// `n` subscriptions: mostly literal `svc{a}.sub{b}.ev{i}` (a in 0..64, b in 0..256),
/// one in 100 a wildcard (`svc{a}.sub{b}.*`, `svc{a}.>`, `*.sub{b}.*`), one in 50 a queue sub.
fn build(n: usize) -> Sublist {
    let list = Sublist::new();
    for i in 0..n {
        let (a, b) = (i % 64, (i / 64) % 256);
        let s = match i % 100 {
            1 => sub(&format!("svc{a}.sub{b}.*"), None, i),
            2 if i % 1000 == 2 => sub(&format!("svc{a}.>"), None, i),
            3 if i % 1000 == 3 => sub(&format!("*.sub{b}.*"), None, i),
            7 | 57 => sub(&format!("svc{a}.sub{b}.ev{i}"), Some("workers"), i),
            _ => sub(&format!("svc{a}.sub{b}.ev{i}"), None, i),
        };
        if list.insert(s).is_err() {
            unreachable!("bench subjects are valid");
        }
    }
    list
}

/// Published subjects: a literal subject that exists (plus whatever wildcards cover it),
/// a literal subject with no literal sub, and a subject containing a `*` token.
fn subjects(n: usize) -> [(&'static str, String); 3] {
    let i = n / 2 + 4; // i % 100 == 4 (for n >= 10): a plain literal sub
    let (a, b) = (i % 64, (i / 64) % 256);
    [
        ("literal", format!("svc{a}.sub{b}.ev{i}")),
        ("literal_nomatch", format!("svc{a}.sub{b}.nothing")),
        ("wildcard", format!("svc{a}.sub{b}.*")),
    ]
}

fn bench_match(c: &mut Criterion) {
    for n in SIZES {
        let list = build(n);
        let mut g = c.benchmark_group(format!("match/{n}"));
        for (name, subject) in subjects(n) {
            let subject = subject.into_bytes();
            let fanout = list.match_subject(&subject).len();
            g.bench_function(
                BenchmarkId::new(format!("uncached/{name}"), fanout),
                |bch| bch.iter(|| black_box(list.match_subject(black_box(&subject)))),
            );
            let mut cache = MatchCache::new(1024);
            g.bench_function(BenchmarkId::new(format!("cached/{name}"), fanout), |bch| {
                bch.iter(|| black_box(cache.lookup(&list, black_box(&subject))))
            });
        }
        // A cache cycling over 512 distinct subjects (all hits once warm).
        let many: Vec<Vec<u8>> = (0..512)
            .map(|k| format!("svc{}.sub{}.ev{k}", k % 64, k % 7).into_bytes())
            .collect();
        let mut cache = MatchCache::new(1024);
        let mut k = 0usize;
        g.bench_function("cached/512_subjects", |bch| {
            bch.iter(|| {
                k = (k + 1) & 511;
                black_box(cache.lookup(&list, &many[k]))
            })
        });
        g.finish();
    }
}

fn bench_insert_remove(c: &mut Criterion) {
    for n in SIZES {
        let list = build(n);
        let mut g = c.benchmark_group(format!("insert_remove/{n}"));
        let lit = sub("svc3.sub5.fresh", None, 0);
        g.bench_function("literal", |bch| {
            bch.iter(|| {
                if list.insert(lit.clone()).is_err() {
                    unreachable!();
                }
                black_box(list.remove(&lit))
            })
        });
        let wc = sub("svc3.*.fresh.>", None, 0);
        g.bench_function("wildcard", |bch| {
            bch.iter(|| {
                if list.insert(wc.clone()).is_err() {
                    unreachable!();
                }
                black_box(list.remove(&wc))
            })
        });
        let q = sub("svc3.sub5.ev0", Some("workers"), 0);
        g.bench_function("queue", |bch| {
            bch.iter(|| {
                if list.insert(q.clone()).is_err() {
                    unreachable!();
                }
                black_box(list.remove(&q))
            })
        });
        g.finish();
    }
}

/// Insert + remove of one subscription on a subject that already holds 200k plain
/// subscriptions, and of one queue member on a subject with 100k queue groups (the
/// cost must not grow with either number).
fn bench_one_subject(c: &mut Criterion) {
    let mut g = c.benchmark_group("one_subject");
    let list = Sublist::new();
    for i in 0..200_000 {
        if list.insert(sub("hot.subject", None, i)).is_err() {
            unreachable!();
        }
    }
    let s = sub("hot.subject", None, 0);
    g.bench_function("insert_remove/200k_subs", |bch| {
        bch.iter(|| {
            if list.insert(s.clone()).is_err() {
                unreachable!();
            }
            black_box(list.remove(&s))
        })
    });
    // Removing one of the oldest members (worst case for a position scan).
    let first = list.all().into_iter().next().expect("subs");
    g.bench_function("remove_insert_old/200k_subs", |bch| {
        bch.iter(|| {
            black_box(list.remove(&first));
            if list.insert(first.clone()).is_err() {
                unreachable!();
            }
        })
    });
    let qlist = Sublist::new();
    for i in 0..100_000 {
        if qlist.insert(sub("hot.queue", Some(&format!("q{i}")), i)).is_err() {
            unreachable!();
        }
    }
    let q = sub("hot.queue", Some("q99999"), 0);
    g.bench_function("insert_remove/100k_groups_member", |bch| {
        bch.iter(|| {
            if qlist.insert(q.clone()).is_err() {
                unreachable!();
            }
            black_box(qlist.remove(&q))
        })
    });
    let fresh = sub("hot.queue", Some("fresh-group"), 0);
    g.bench_function("insert_remove/100k_groups_new_group", |bch| {
        bch.iter(|| {
            if qlist.insert(fresh.clone()).is_err() {
                unreachable!();
            }
            black_box(qlist.remove(&fresh))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = bench_match, bench_insert_remove, bench_one_subject
}
criterion_main!(benches);
