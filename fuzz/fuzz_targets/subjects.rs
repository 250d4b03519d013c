//! Fuzz subject validation and the trie: validation rules stay consistent, and the
//! trie returns exactly the subscriptions a naive matcher finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natrix::subject::{self, ConnRef, Sublist, Subscription};
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    // Newline-separated: subscriptions first, the last line is the published subject.
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let Some(published) = lines.pop() else { return };
    lines.truncate(64);
    for l in &lines {
        if subject::is_valid_literal_subject(l) {
            assert!(subject::is_valid_subject(l));
        }
        if subject::is_valid_subject(l) {
            assert!(subject::is_valid_sub_subject(l));
            assert!(subject::subject_is_subset(l, l));
        }
    }
    let list = Sublist::new();
    let mut inserted = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let owner = ConnRef { worker: 0, slot: i as u32, cid: i as u64 };
        let sub = Arc::new(Subscription::new(l, None, i.to_string().as_bytes(), owner));
        if list.insert(sub.clone()).is_ok() {
            assert!(subject::is_valid_sub_subject(l));
            inserted.push(sub);
        }
    }
    let result = list.match_subject(published);
    let mut got: Vec<u64> = result.psubs.iter().map(|s| s.owner.cid).collect();
    got.sort_unstable();
    let has_empty_token = published.is_empty() || published.split(|&b| b == b'.').any(|t| t.is_empty());
    let mut want: Vec<u64> = if has_empty_token {
        Vec::new()
    } else {
        inserted.iter().filter(|s| subject::matches(&s.subject, published)).map(|s| s.owner.cid).collect()
    };
    want.sort_unstable();
    assert_eq!(got, want);
    for s in &inserted {
        assert!(list.remove(s));
    }
    assert_eq!(list.count(), 0);
});
