//! Auth callout plumbing: a CONNECT from anyone but the configured `auth_users` parks
//! the connection (as a bcrypt check does: its input waits, in order) and publishes a
//! signed `AuthorizationRequestClaims` JWT to `$SYS.REQ.USER.AUTH` in the callout
//! account, with a reply subject this server owns. The service's answer is a publish to
//! that subject: it is taken off the publish path on whichever worker the service is
//! on, checked there (`auth::callout::decide`) and posted to the waiting connection's
//! worker as a verdict. Each wait has its own deadline (the auth timeout); the 100 ms
//! tick refuses those past it. The number of waits is bounded.
use super::auth_pool::{Parked, Step, Verdict};
use super::conn::CloseReason;
use super::core::Core;
use crate::auth::callout::{self, CalloutError, ClientInfo, ClientTls, ConnectOpts, RequestInfo, ServerId};
use crate::auth::AuthError;
use crate::proto::{ConnectOptions, Message};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Connections waiting for the service at once (all workers); more are refused.
pub const MAX_WAITING: usize = 4096;

/// One connection waiting for the service's answer.
struct Waiting {
    worker: u16,
    slot: u32,
    cid: u64,
    gen: u64,
    addr: SocketAddr,
    /// The callout account's index (answers from elsewhere are not answers).
    account: u32,
    user_nkey: String,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
}

/// The server's signing key (its id is the public half) and the waits in progress.
pub struct CalloutShared {
    key: nkeys::KeyPair,
    /// `$SYS._INBOX.<random>.`: the reply subjects of this server's requests.
    prefix: String,
    waiting: Mutex<HashMap<u64, Waiting>>,
}

impl CalloutShared {
    pub fn new(key: nkeys::KeyPair) -> CalloutShared {
        let mut r = [0u8; 8];
        // A fixed prefix would still be unique per request token; random is nicer.
        let _ = getrandom::fill(&mut r);
        let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
        CalloutShared { key, prefix: format!("$SYS._INBOX.{tag}."), waiting: Mutex::new(HashMap::new()) }
    }

    /// Connections now waiting for the callout service (monitoring and tests).
    pub fn waiting(&self) -> usize {
        self.waiting.lock().len()
    }
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b)
}

impl Core {
    /// Whether this CONNECT must be decided by the callout service.
    pub(super) fn needs_callout(&self, opts: &ConnectOptions) -> bool {
        self.opts.auth.callout.as_ref().is_some_and(|c| !c.is_auth_user(opts.user.as_deref(), opts.nkey.as_deref()))
    }

    /// Sends the authorization request for `slot` and parks it until the answer (or
    /// its deadline) decides.
    pub(super) fn start_callout(&mut self, slot: u32, step: Step) {
        let Some(cfg) = self.opts.auth.callout.clone() else { return };
        let Some(c) = self.conn(slot) else { return };
        let (cid, addr) = (c.cid, c.addr);
        if self.shared.callout.waiting() >= MAX_WAITING {
            return self.callout_refuse(slot, &CalloutError::Server("too many connections waiting for the auth callout".into()));
        }
        let user_kp = nkeys::KeyPair::new_user();
        let user_nkey = user_kp.public_key();
        let timeout = self.auth_timeout();
        let expires = crate::jwt::now_unix() + i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX / 2) + 1;
        let info = self.request_info(slot, &step);
        let jwt = match callout::request_jwt(&self.shared.callout.key, &cfg, &user_nkey, info, expires) {
            Ok(j) => j,
            Err(e) => return self.callout_refuse(slot, &CalloutError::Server(format!("cannot sign the auth request: {e}"))),
        };
        let account = self.shared.accounts.get_or_create(&cfg.account).id;
        self.ensure_account(account);
        let cancel = Arc::new(AtomicBool::new(false));
        let token = random_u64();
        let reply = format!("{}{token:016x}", self.shared.callout.prefix);
        let deadline = self.now + timeout;
        let (worker, gen) = (self.id, self.opts_gen);
        if let Some(c) = self.conn_mut(slot) {
            c.auth_deadline = None; // the wait has its own deadline
            c.parked = Some(Parked::waiting(step, cancel.clone()));
        }
        let w = Waiting { worker, slot, cid, gen, addr, account, user_nkey, deadline, cancel };
        self.shared.callout.waiting.lock().insert(token, w);
        crate::debug!("{addr} - cid:{cid} - auth callout request sent to account {:?}", cfg.account);
        let m = Message { subject: callout::SUBJECT.as_bytes(), reply: Some(reply.as_bytes()), headers: None, payload: jwt.as_bytes(), is_hpub: false };
        self.route_in_account(account as usize, slot, cid, true, &m, None, false);
    }

    fn request_info(&self, slot: u32, step: &Step) -> RequestInfo {
        let none = ConnectOptions::default();
        let o = match step {
            Step::Connect(o) => o,
            _ => &none,
        };
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let Some(c) = self.conn(slot) else { return RequestInfo::default() };
        let tls = c.tls_session.as_deref().map(|t| {
            let chain: Vec<String> = t.peer_certs.iter().map(|d| callout::pem(d)).collect();
            ClientTls {
                version: t.version.to_string(),
                cipher: t.cipher_suite.clone(),
                certs: Vec::new(),
                // rustls verified the chain the client presented (client certificates
                // are only asked for with `verify`).
                verified_chains: if chain.is_empty() { Vec::new() } else { vec![chain] },
            }
        });
        RequestInfo {
            server: ServerId {
                name: self.shared.server_name.clone(),
                host: self.shared.info_host.clone(),
                id: self.shared.server_id.clone(),
                version: crate::VERSION.to_string(),
                cluster: self.shared.cluster.as_ref().map(|cl| cl.name.clone()).unwrap_or_default(),
            },
            client: ClientInfo {
                host: c.addr.ip().to_string(),
                id: c.cid,
                user: s(&o.user),
                name: s(&o.name),
                kind: "Client".into(),
                client_type: "nats".into(),
                nonce: if o.sig.as_deref().is_some_and(|x| !x.is_empty()) { c.nonce.as_deref().unwrap_or("").to_string() } else { String::new() },
            },
            connect: ConnectOpts {
                jwt: s(&o.jwt),
                nkey: s(&o.nkey),
                sig: s(&o.sig),
                auth_token: s(&o.auth_token),
                user: s(&o.user),
                pass: s(&o.pass),
                name: s(&o.name),
                lang: s(&o.lang),
                version: s(&o.version),
                protocol: i32::try_from(o.protocol).unwrap_or(0),
            },
            tls,
        }
    }

    /// A publish to one of this server's callout reply subjects, in the callout
    /// account: decides the waiting connection. True when the message was an answer
    /// (it goes nowhere else).
    #[cold]
    pub(super) fn callout_reply(&mut self, acc: usize, msg: &Message<'_>) -> bool {
        let shared = self.shared.clone();
        let Some(token) = msg.subject.strip_prefix(shared.callout.prefix.as_bytes()) else { return false };
        let Some(token) = std::str::from_utf8(token).ok().and_then(|t| u64::from_str_radix(t, 16).ok()) else { return false };
        let w = {
            let mut waiting = shared.callout.waiting.lock();
            match waiting.get(&token) {
                Some(w) if w.account as usize == acc => waiting.remove(&token),
                _ => None,
            }
        };
        let Some(w) = w else { return true };
        if w.cancel.load(Ordering::Acquire) {
            return true;
        }
        let Some(cfg) = self.opts.auth.callout.as_ref() else { return true };
        let expect = callout::Expect {
            cfg,
            auth: &self.opts.auth,
            user_nkey: &w.user_nkey,
            server_id: &shared.server_id,
            ip: Some(w.addr.ip()),
            now: crate::jwt::now_unix(),
        };
        let result = callout::decide(msg.payload, &expect).map_err(AuthError::Callout);
        match &result {
            Ok(id) => crate::debug!(
                "{} - cid:{} - auth callout admitted {:?} to account {:?}",
                w.addr,
                w.cid,
                id.user.as_deref().unwrap_or(""),
                id.account
            ),
            Err(e) => crate::warn!("{} - cid:{} - auth callout refused the client: {e}", w.addr, w.cid),
        }
        if let Some(inbox) = shared.inboxes.get(w.worker as usize) {
            inbox.verdicts.lock().push(Verdict::new(w.slot, w.cid, w.gen, result));
            shared.wake(w.worker as usize);
        }
        true
    }

    /// Refuses this worker's waits past their deadline (the 100 ms tick), and forgets
    /// those whose connection closed.
    pub(super) fn expire_callouts(&mut self) {
        let (me, now) = (self.id, self.now);
        let due: Vec<Waiting> = {
            let mut waiting = self.shared.callout.waiting.lock();
            if waiting.is_empty() {
                return;
            }
            let keys: Vec<u64> = waiting
                .iter()
                .filter(|(_, w)| w.worker == me && (now >= w.deadline || w.cancel.load(Ordering::Acquire)))
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| waiting.remove(k)).collect()
        };
        for w in due {
            if w.cancel.load(Ordering::Acquire) {
                continue;
            }
            let parked = self.conn(w.slot).is_some_and(|c| c.cid == w.cid && c.parked.is_some() && c.closing.is_none());
            if parked {
                self.callout_refuse(w.slot, &CalloutError::Timeout);
            }
        }
    }

    /// Refuses a connection the callout did not admit: the log says why, the client
    /// gets `Authorization Violation`.
    fn callout_refuse(&mut self, slot: u32, why: &CalloutError) {
        let Some(c) = self.conn_mut(slot) else { return };
        if let Some(p) = c.parked.take() {
            p.cancel();
        }
        crate::warn!("{} - cid:{} - auth callout: {why}", c.addr, c.cid);
        self.send_err(slot, "Authorization Violation");
        self.close(slot, CloseReason::AuthViolation);
    }
}
