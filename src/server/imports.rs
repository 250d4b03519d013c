//! Accounts exporting and importing streams and services.
//!
//! * Stream: a message published in the exporter on a subject another account imports
//!   is also delivered in the importer, under the import's `prefix` or `to` subject.
//! * Service: a request published in the importer on the imported subject is delivered
//!   in the exporter (subject mapped back), with its reply replaced by a fresh
//!   `_R_.<account>.<request>` subject; the exporter's answer on that subject is routed
//!   back to the requester's reply in the importer (once for singleton services, until
//!   the response threshold for streamed and chunked ones).
//!
//! Routes are computed from the config at start and on reload; a worker checks one
//! flag per PUB for accounts that have none.
use super::core::Core;
use crate::auth::config::{AuthConfig, ResponseType};
use crate::proto::Message;
use crate::subject;
use ahash::AHashMap;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How an imported subject is rewritten.
#[derive(Debug, Clone)]
pub struct SubjectMap {
    from: Box<[u8]>,
    to: MapTo,
}

#[derive(Debug, Clone)]
enum MapTo {
    Same,
    Prefix(Box<[u8]>),
    Pattern(Box<[u8]>),
}

impl SubjectMap {
    pub fn matches(&self, subject: &[u8]) -> bool {
        subject::matches(&self.from, subject)
    }

    /// Writes the mapped form of `subject` (which `matches`) into `out`.
    pub fn apply(&self, subject: &[u8], out: &mut Vec<u8>) {
        out.clear();
        match &self.to {
            MapTo::Same => out.extend_from_slice(subject),
            MapTo::Prefix(p) => {
                out.extend_from_slice(p);
                out.push(b'.');
                out.extend_from_slice(subject);
            }
            MapTo::Pattern(to) => transform(&self.from, to, subject, out),
        }
    }
}

/// Fills the wildcards of `to` with what the wildcards of `from` matched in `subject`,
/// in order (`*` tokens one by one, `>` the rest).
fn transform(from: &[u8], to: &[u8], subject: &[u8], out: &mut Vec<u8>) {
    let subj: Vec<&[u8]> = subject::tokens(subject).collect();
    let mut stars = Vec::new();
    let mut tail: &[&[u8]] = &[];
    for (i, t) in subject::tokens(from).enumerate() {
        if t == b"*" {
            if let Some(s) = subj.get(i) {
                stars.push(*s);
            }
        } else if t == b">" {
            tail = subj.get(i..).unwrap_or(&[]);
        }
    }
    let mut stars = stars.into_iter();
    for (i, t) in subject::tokens(to).enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if t == b"*" {
            out.extend_from_slice(stars.next().unwrap_or(b"*"));
        } else if t == b">" {
            out.extend_from_slice(&tail.join(&b'.'));
        } else {
            out.extend_from_slice(t);
        }
    }
}

#[derive(Debug, Clone)]
pub struct StreamRoute {
    pub importer: u32,
    pub map: SubjectMap,
    /// `share: true`: the stamp's user fields cross (`trust_conn.rs`).
    pub share: bool,
}

#[derive(Debug, Clone)]
pub struct ServiceRoute {
    pub exporter: u32,
    /// From the importer's subject to the exporter's.
    pub map: SubjectMap,
    pub response_type: ResponseType,
    pub threshold: Duration,
    pub share: bool,
}

/// An account's cross-account routes.
#[derive(Debug, Default)]
pub struct AccountRoutes {
    /// Published here → also delivered in the importer.
    pub streams: Vec<StreamRoute>,
    /// Published here (the importer) → delivered in the exporter.
    pub services: Vec<ServiceRoute>,
}

impl AccountRoutes {
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.services.is_empty()
    }
}

/// A pending reply: where the exporter's answer on a generated `_R_` subject goes.
#[derive(Debug)]
struct ResponseRoute {
    importer: u32,
    reply: Box<[u8]>,
    kind: ResponseType,
    threshold: Duration,
    last: Instant,
}

/// Generated reply subjects of one exporting account.
pub struct ResponseMap {
    map: Mutex<AHashMap<Box<[u8]>, ResponseRoute>>,
    len: AtomicUsize,
    prefix: Box<str>,
}

impl ResponseMap {
    pub fn new() -> Self {
        ResponseMap {
            map: Mutex::new(AHashMap::new()),
            len: AtomicUsize::new(0),
            prefix: format!("_R_.{}.", base62(random_u64(), 6)).into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn insert(&self, importer: u32, reply: &[u8], kind: ResponseType, threshold: Duration, now: Instant) -> Vec<u8> {
        // Unpredictable per request (nats-server draws each one at random too), so that
        // seeing one reply does not tell anyone the next. 11 digits carry the whole u64.
        let n = super::reply_rng::next_u64();
        let subject = format!("{}{}", self.prefix, base62(n, REPLY_DIGITS)).into_bytes();
        let mut map = self.map.lock();
        map.insert(subject.clone().into(), ResponseRoute { importer, reply: reply.into(), kind, threshold, last: now });
        self.len.store(map.len(), Ordering::Release);
        subject
    }

    /// The route for an answer on `subject`, consumed for singleton services.
    fn take(&self, subject: &[u8], now: Instant, empty_payload: bool) -> Option<(u32, Vec<u8>)> {
        let mut map = self.map.lock();
        let route = map.get_mut(subject)?;
        let out = (route.importer, route.reply.to_vec());
        let done = match route.kind {
            ResponseType::Singleton => true,
            ResponseType::Stream => false,
            ResponseType::Chunked => empty_payload,
        };
        route.last = now;
        if done {
            map.remove(subject);
        }
        self.len.store(map.len(), Ordering::Release);
        Some(out)
    }

    fn remove(&self, subject: &[u8]) {
        let mut map = self.map.lock();
        map.remove(subject);
        self.len.store(map.len(), Ordering::Release);
    }

    /// Drops replies older than their service's response threshold.
    pub fn expire(&self, now: Instant) {
        if self.is_empty() {
            return;
        }
        let mut map = self.map.lock();
        map.retain(|_, r| now.saturating_duration_since(r.last) < r.threshold);
        self.len.store(map.len(), Ordering::Release);
    }
}

impl Default for ResponseMap {
    fn default() -> Self {
        Self::new()
    }
}

/// Base-62 digits of a generated reply's last token (62^11 > 2^64).
const REPLY_DIGITS: usize = 11;

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    }
    u64::from_le_bytes(b)
}

fn base62(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut s = vec![b'0'; width];
    for slot in s.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(s).unwrap_or_default()
}

/// Computes every account's routes from the config and installs them (workers pick
/// them up with the options, or at their next tick through `routes_gen`).
pub fn install(accounts: &super::account::AccountTable, cfg: &AuthConfig) {
    let mut routes: AHashMap<u32, AccountRoutes> = AHashMap::new();
    // Operator mode: the exports and imports of the account JWTs.
    let from_jwts = crate::jwt::imports::account_configs(&cfg.trust, crate::jwt::now_unix());
    let all: Vec<&crate::auth::config::AccountConfig> = cfg.accounts.iter().chain(from_jwts.configs.iter()).collect();
    for acc in all.iter().copied() {
        let importer = accounts.get_or_create(&acc.name);
        routes.entry(importer.id).or_default();
        for imp in &acc.imports {
            let exporter = accounts.get_or_create(&imp.account);
            let from: Box<[u8]> = imp.subject.as_bytes().into();
            if imp.service {
                let export = all
                    .iter()
                    .find(|a| a.name == imp.account)
                    .and_then(|a| a.exports.iter().find(|e| e.service && subject::subject_is_subset(&from, e.subject.as_bytes())));
                let (response_type, threshold) = export
                    .map(|e| (e.response_type, e.response_threshold))
                    .unwrap_or((ResponseType::Singleton, crate::auth::config::DEFAULT_RESPONSE_THRESHOLD));
                // The importer publishes on `to` (or the subject itself); the exporter
                // receives the export's subject.
                let map = match &imp.to {
                    Some(to) => SubjectMap { from: to.as_bytes().into(), to: MapTo::Pattern(from) },
                    None => SubjectMap { from, to: MapTo::Same },
                };
                routes.entry(importer.id).or_default().services.push(ServiceRoute {
                    exporter: exporter.id,
                    map,
                    response_type,
                    threshold,
                    share: imp.share,
                });
            } else {
                let to = match (&imp.prefix, &imp.to) {
                    (Some(p), _) => MapTo::Prefix(p.as_bytes().into()),
                    (None, Some(t)) => MapTo::Pattern(t.as_bytes().into()),
                    (None, None) => MapTo::Same,
                };
                routes
                    .entry(exporter.id)
                    .or_default()
                    .streams
                    .push(StreamRoute { importer: importer.id, map: SubjectMap { from, to }, share: imp.share });
            }
        }
    }
    for acc in accounts.snapshot() {
        let r = routes.remove(&acc.id).unwrap_or_default();
        *acc.routes.write() = Arc::new(r);
    }
    accounts.import_expiry.store(from_jwts.next_expiry.unwrap_or(0), std::sync::atomic::Ordering::Release);
    accounts.routes_gen.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

impl Core {
    #[inline]
    pub(super) fn has_cross_account_routes(&self, acc: usize) -> bool {
        self.routes.get(acc).is_some_and(|r| !r.is_empty()) || !self.accounts[acc].responses.is_empty()
    }

    /// Stream exports, service imports and service responses for a message published
    /// in account `acc`. Returns whether it went anywhere.
    pub(super) fn route_across_accounts(&mut self, acc: usize, slot: u32, cid: u64, msg: &Message<'_>) -> bool {
        let now = self.now;
        let mut delivered = false;
        let mut subject_buf = std::mem::take(&mut self.scratch_subject);
        // The stamp cut to the publisher's account, for imports without `share`.
        let mut cut_buf = std::mem::take(&mut self.trust_import);
        let cut = self.import_headers(slot, msg, &mut cut_buf);
        let cut_headers = if cut { Some(&cut_buf[..]) } else { msg.headers };
        // An answer from the exporter to a request that came through a service import.
        if msg.subject.starts_with(b"_R_.") && !self.accounts[acc].responses.is_empty() {
            let empty = msg.payload.is_empty() && msg.headers.is_none();
            if let Some((importer, reply)) = self.accounts[acc].responses.take(msg.subject, now, empty) {
                self.ensure_account(importer);
                let m = Message { subject: &reply, headers: cut_headers, ..*msg };
                let got = self.route_in_account(importer as usize, slot, cid, true, &m, None, false);
                if !got {
                    self.accounts[acc].responses.remove(msg.subject);
                }
                delivered |= got;
            }
        }
        let routes = self.routes[acc].clone();
        for s in routes.streams.iter().filter(|s| s.map.matches(msg.subject)) {
            s.map.apply(msg.subject, &mut subject_buf);
            self.ensure_account(s.importer);
            let headers = if s.share { msg.headers } else { cut_headers };
            let m = Message { subject: &subject_buf, headers, ..*msg };
            delivered |= self.route_in_account(s.importer as usize, slot, cid, true, &m, None, false);
        }
        for s in routes.services.iter().filter(|s| s.map.matches(msg.subject)) {
            s.map.apply(msg.subject, &mut subject_buf);
            self.ensure_account(s.exporter);
            let exporter = self.accounts[s.exporter as usize].clone();
            let reply = msg.reply.map(|r| exporter.responses.insert(acc as u32, r, s.response_type, s.threshold, now));
            let headers = self.request_info_headers(slot, acc, if s.share { msg.headers } else { cut_headers });
            let m = Message { subject: &subject_buf, reply: reply.as_deref(), headers: Some(&headers), ..*msg };
            self.route_in_account(s.exporter as usize, slot, cid, true, &m, None, false);
            // A request taken by a service import counts as delivered (no 503).
            delivered = true;
        }
        self.scratch_subject = subject_buf;
        self.trust_import = cut_buf;
        delivered
    }

    /// The request's headers plus `Nats-Request-Info: {"acc":…,"rtt":…}`, as nats-server
    /// adds to cross-account service requests. Every copy the requester put in (any
    /// case, with its continuation lines) is removed first, so that a reader taking the
    /// first value cannot be handed a forged one (nats-server removes only the first
    /// exact-case copy).
    fn request_info_headers(&self, slot: u32, acc: usize, headers: Option<&[u8]>) -> Vec<u8> {
        let rtt = self.conn(slot).map_or(0, |c| c.rtt_ns);
        let name = serde_json::to_string(&*self.accounts[acc].name).unwrap_or_else(|_| "\"\"".into());
        let line = format!("Nats-Request-Info: {{\"acc\":{name},\"rtt\":{rtt}}}\r\n\r\n");
        let mut out = Vec::with_capacity(64 + headers.map_or(0, <[u8]>::len));
        match headers {
            Some(h) if h.ends_with(b"\r\n\r\n") => copy_without_request_info(&h[..h.len() - 2], &mut out),
            _ => out.extend_from_slice(b"NATS/1.0\r\n"),
        }
        out.extend_from_slice(line.as_bytes());
        out
    }

    /// Drops stale service replies (called from the housekeeping tick).
    pub(super) fn expire_responses(&mut self) {
        let now = self.now;
        for a in &self.accounts {
            a.responses.expire(now);
        }
    }
}

/// Copies the header lines `h` (status line first, each ending in `\n`) except
/// `Nats-Request-Info` fields and the continuation lines that follow them.
fn copy_without_request_info(h: &[u8], out: &mut Vec<u8>) {
    let mut lines = h.split_inclusive(|&b| b == b'\n');
    if let Some(status) = lines.next() {
        out.extend_from_slice(status);
    }
    crate::trust::headers::copy_fields_without(lines, out, crate::trust::headers::is_request_info);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(from: &str, to: MapTo) -> SubjectMap {
        SubjectMap { from: from.as_bytes().into(), to }
    }

    #[test]
    fn subject_maps() {
        let mut out = Vec::new();
        map("events.>", MapTo::Prefix(b"fromA"[..].into())).apply(b"events.x", &mut out);
        assert_eq!(out, b"fromA.events.x");
        map("private.>", MapTo::Pattern(b"priv.>"[..].into())).apply(b"private.a.b", &mut out);
        assert_eq!(out, b"priv.a.b");
        map("a.*.c.*", MapTo::Pattern(b"x.*.*"[..].into())).apply(b"a.1.c.2", &mut out);
        assert_eq!(out, b"x.1.2");
        map("echo", MapTo::Pattern(b"svc.echo"[..].into())).apply(b"echo", &mut out);
        assert_eq!(out, b"svc.echo");
        assert!(map("events.>", MapTo::Same).matches(b"events.x"));
        assert!(!map("events.>", MapTo::Same).matches(b"other"));
    }

    #[test]
    fn responses_singleton_and_stream() {
        let m = ResponseMap::new();
        let now = Instant::now();
        let r = m.insert(2, b"_INBOX.1", ResponseType::Singleton, Duration::from_secs(1), now);
        assert!(r.starts_with(b"_R_.") && r.len() == "_R_.xxxxxx.yyyyyyyyyyy".len());
        assert_eq!(m.take(&r, now, false), Some((2, b"_INBOX.1".to_vec())));
        assert_eq!(m.take(&r, now, false), None);
        let s = m.insert(2, b"_INBOX.2", ResponseType::Stream, Duration::from_secs(1), now);
        assert!(m.take(&s, now, false).is_some());
        assert!(m.take(&s, now, false).is_some());
        m.expire(now + Duration::from_secs(2));
        assert!(m.is_empty());
    }

    #[test]
    fn generated_replies_do_not_follow_each_other() {
        let m = ResponseMap::new();
        let now = Instant::now();
        let r: Vec<Vec<u8>> =
            (0..64).map(|i| m.insert(2, format!("i.{i}").as_bytes(), ResponseType::Singleton, Duration::from_secs(9), now)).collect();
        let distinct: std::collections::HashSet<_> = r.iter().collect();
        assert_eq!(distinct.len(), r.len());
        // The last token of consecutive replies differs in many places, not like a counter.
        let tail = |x: &Vec<u8>| x[x.len() - REPLY_DIGITS..].to_vec();
        let mut same_prefix = 0;
        for w in r.windows(2) {
            let (a, b) = (tail(&w[0]), tail(&w[1]));
            same_prefix += a.iter().zip(&b).take_while(|(x, y)| x == y).count();
        }
        assert!(same_prefix < 20, "consecutive replies share {same_prefix} leading digits in total");
    }

    #[test]
    fn request_info_copies_are_removed_in_any_case() {
        let mut out = Vec::new();
        let h = b"NATS/1.0\r\nNats-Request-Info: {\"acc\":\"X\"}\r\nA: 1\r\nnats-request-info : f\r\n  cont\r\nNATS-REQUEST-INFO:g\r\nB: 2\r\n";
        copy_without_request_info(h, &mut out);
        assert_eq!(out, b"NATS/1.0\r\nA: 1\r\nB: 2\r\n");
        out.clear();
        copy_without_request_info(b"NATS/1.0 503\r\nNats-Request-Infox: 1\r\n", &mut out);
        assert_eq!(out, b"NATS/1.0 503\r\nNats-Request-Infox: 1\r\n");
    }

    #[test]
    fn base62_width() {
        assert_eq!(base62(0, 6), "000000");
        assert_eq!(base62(61, 2), "0z");
    }
}
