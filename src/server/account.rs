//! Accounts: each has its own subscription trie, so subjects are isolated between them.
use crate::subject::Sublist;
use parking_lot::RwLock;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::Arc;

pub use crate::account_names::{GLOBAL_ACCOUNT, SYSTEM_ACCOUNT};

pub struct Account {
    /// Index in the server's account table (and in each worker's match caches).
    pub id: u32,
    pub name: Arc<str>,
    pub sublist: Sublist,
    /// Streams others import from this account and services this account imports;
    /// replaced as a whole on reload, snapshotted by each worker.
    pub routes: RwLock<Arc<super::imports::AccountRoutes>>,
    /// Replies of requests that reached this account through a service import.
    pub responses: super::imports::ResponseMap,
    /// Connections admitted by a user JWT of this account (for the JWT `conn` limit).
    pub jwt_conns: std::sync::atomic::AtomicU32,
}

impl Account {
    fn new(id: u32, name: &str) -> Account {
        Account {
            id,
            name: name.into(),
            sublist: Sublist::new(),
            routes: RwLock::new(Arc::default()),
            responses: super::imports::ResponseMap::new(),
            jwt_conns: std::sync::atomic::AtomicU32::new(0),
        }
    }
}

/// All accounts, by id. Accounts are only ever added; workers keep a snapshot and
/// refresh it when they meet an id they do not have yet.
pub struct AccountTable {
    accounts: RwLock<Vec<Arc<Account>>>,
    /// Moves each time the routes are installed again; workers compare it at their tick.
    pub routes_gen: AtomicU64,
    /// When (Unix seconds) the first activation token of an installed JWT import
    /// expires; 0 = none. Worker 0 installs the routes again once it has passed.
    pub import_expiry: AtomicI64,
}

impl AccountTable {
    /// A table holding the global account (id 0).
    pub fn new() -> Self {
        let global = Arc::new(Account::new(0, GLOBAL_ACCOUNT));
        AccountTable { accounts: RwLock::new(vec![global]), routes_gen: AtomicU64::new(0), import_expiry: AtomicI64::new(0) }
    }

    pub fn global(&self) -> Arc<Account> {
        self.accounts.read()[0].clone()
    }

    /// The account called `name`, created if it does not exist yet.
    pub fn get_or_create(&self, name: &str) -> Arc<Account> {
        if let Some(a) = self.find(name) {
            return a;
        }
        let mut all = self.accounts.write();
        if let Some(a) = all.iter().find(|a| &*a.name == name) {
            return a.clone();
        }
        let acc = Arc::new(Account::new(all.len() as u32, name));
        all.push(acc.clone());
        acc
    }

    pub fn find(&self, name: &str) -> Option<Arc<Account>> {
        self.accounts.read().iter().find(|a| &*a.name == name).cloned()
    }

    /// A copy of the table for a worker's lock-free use.
    pub fn snapshot(&self) -> Vec<Arc<Account>> {
        self.accounts.read().clone()
    }
}

impl Default for AccountTable {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_first_and_names_unique() {
        let t = AccountTable::new();
        assert_eq!(&*t.global().name, "$G");
        let a = t.get_or_create("A");
        assert_eq!(a.id, 1);
        assert_eq!(t.get_or_create("A").id, 1);
        assert_eq!(t.snapshot().len(), 2);
        assert!(t.find("B").is_none());
    }
}
