//! Subjects: validation, subscriptions, the sharded subscription trie (`Sublist`)
//! and the per-worker match cache (`MatchCache`).
mod cache;
mod result;
pub mod sub;
mod sublist;
mod subset;
mod trie;
mod validate;

pub use cache::MatchCache;
pub use result::{QueueGroup, SubResult};
pub use sub::{ConnRef, DeliveryFilter, Subscription};
pub use sublist::{SubjectError, Sublist, SublistStats, LITERAL_SHARDS};
pub use validate::{
    has_wildcard, is_valid_literal_subject, is_valid_sub_subject, is_valid_subject, matches,
    subject_is_subset, tokens, FWC, PWC, TSEP,
};
