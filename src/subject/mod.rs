//! Subjects: validation, subscriptions and the sharded subscription trie.
pub mod sub;
pub use sub::{ConnRef, Subscription};
