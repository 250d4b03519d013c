//! Point-in-time views of connections for monitoring. Gathered on request by each
//! worker from its own connections (a control message through its mailbox), so the
//! hot path keeps plain, unsynchronised per-connection counters.
use super::conn::{CloseReason, Conn};
use super::core::Core;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// One subscription as /connz shows it.
#[derive(Debug, Clone)]
pub struct SubInfo {
    pub subject: String,
    pub queue: Option<String>,
    pub sid: String,
    pub msgs: u64,
    pub max: u64,
    pub cid: u64,
}

/// One connection as /connz shows it.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub cid: u64,
    pub ip: String,
    pub port: u16,
    pub start: SystemTime,
    pub last_activity: SystemTime,
    pub stop: Option<SystemTime>,
    pub reason: Option<&'static str>,
    pub uptime: Duration,
    pub idle: Duration,
    /// Accept-to-CONNECT time, nats-server's RTT estimate (`None` before CONNECT).
    pub rtt: Option<Duration>,
    pub tls: Option<super::conn::TlsSession>,
    pub pending_bytes: u64,
    pub in_msgs: u64,
    pub out_msgs: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub account: String,
    pub user: Option<String>,
    pub num_subs: usize,
    pub subs: Vec<SubInfo>,
}

/// Subscriptions remembered per closed connection.
pub const MAX_SUBS_IN_CLOSED: usize = 256;

/// Requests a worker serves between cycles.
pub enum Control {
    /// Send back a view of every open connection (with subscriptions when asked).
    Snapshot { with_subs: bool, reply: mpsc::Sender<Vec<ConnInfo>> },
    /// The route dialer connected route URL `url` (for the route worker's shell).
    RouteDialed { stream: std::net::TcpStream, addr: std::net::SocketAddr, url: usize },
    /// The leaf dialer connected to `url` of remote `remote` (for the route worker's shell).
    LeafDialed { stream: std::net::TcpStream, addr: std::net::SocketAddr, remote: usize, url: crate::config::leaf::LeafUrl },
    /// Send back a view of every registered route connection (for `/routez`).
    Routes { with_subs: bool, reply: mpsc::Sender<Vec<RouteView>> },
    /// Send back a view of every linked leaf connection (for `/leafz`).
    Leafs { with_subs: bool, reply: mpsc::Sender<Vec<RouteView>> },
}

/// One route for `/routez`: the connection view (its `subs` are the peer's interest,
/// `sid` being the route key `"<account> <subject>[ <queue>]"`) and the link.
pub struct RouteView {
    pub conn: ConnInfo,
    pub remote_id: String,
    pub did_solicit: bool,
    pub is_configured: bool,
}

/// Wall-clock time of an `Instant`, given a pair of "now" readings.
fn wall(at: Instant, now: Instant, now_wall: SystemTime) -> SystemTime {
    now_wall.checked_sub(now.saturating_duration_since(at)).unwrap_or(now_wall)
}

impl Core {
    /// A view of one connection at `now`.
    pub fn conn_info(&self, c: &Conn, with_subs: bool, closed: Option<CloseReason>) -> ConnInfo {
        let now = Instant::now();
        let now_wall = SystemTime::now();
        let account = self.accounts.get(c.account as usize).map_or_else(|| "$G".to_string(), |a| a.name.to_string());
        // A closed connection's entry lives in a 10,000-entry ring: keep its list short.
        let max_subs = if closed.is_some() { MAX_SUBS_IN_CLOSED } else { usize::MAX };
        let mut subs: Vec<SubInfo> = if with_subs {
            c.subs
                .iter()
                .take(max_subs)
                .map(|s| SubInfo {
                    subject: String::from_utf8_lossy(&s.subject).into_owned(),
                    queue: s.queue.as_ref().map(|q| String::from_utf8_lossy(q).into_owned()),
                    sid: String::from_utf8_lossy(&s.sid).into_owned(),
                    msgs: s.delivered.load(std::sync::atomic::Ordering::Relaxed),
                    max: s.max.load(std::sync::atomic::Ordering::Relaxed),
                    cid: c.cid,
                })
                .collect()
        } else {
            Vec::new()
        };
        // Creation order for the usual numeric sids.
        subs.sort_by(|a, b| (a.sid.len(), &a.sid).cmp(&(b.sid.len(), &b.sid)));
        ConnInfo {
            cid: c.cid,
            ip: c.addr.ip().to_string(),
            port: c.addr.port(),
            // The certificate chain kept for the auth callout is not monitoring data.
            tls: c.tls_session.as_deref().map(|t| super::conn::TlsSession {
                version: t.version,
                cipher_suite: t.cipher_suite.clone(),
                peer_certs: Vec::new(),
            }),
            rtt: (c.rtt_ns > 0).then(|| std::time::Duration::from_nanos(c.rtt_ns)),
            start: wall(c.start, now, now_wall),
            last_activity: wall(c.last_activity, now, now_wall),
            stop: closed.map(|_| now_wall),
            reason: closed.map(CloseReason::as_str),
            uptime: now.saturating_duration_since(c.start),
            idle: now.saturating_duration_since(c.last_activity),
            pending_bytes: c.out.pending() as u64,
            in_msgs: c.stats.in_msgs,
            out_msgs: c.stats.out_msgs,
            in_bytes: c.stats.in_bytes,
            out_bytes: c.stats.out_bytes,
            name: c.meta.name.clone(),
            lang: c.meta.lang.clone(),
            version: c.meta.version.clone(),
            account,
            user: c.user.as_deref().map(str::to_string),
            num_subs: c.subs.len(),
            subs,
        }
    }

    fn route_view(&self, c: &Conn, with_subs: bool) -> RouteView {
        let mut conn = self.conn_info(c, false, None);
        let Some(r) = c.route.as_deref() else {
            return RouteView { conn, remote_id: String::new(), did_solicit: false, is_configured: false };
        };
        conn.num_subs = r.remote.len();
        if with_subs {
            conn.subs = r
                .remote
                .handles()
                .map(|(_, s)| SubInfo {
                    subject: String::from_utf8_lossy(&s.subject).into_owned(),
                    queue: s.queue.as_ref().map(|q| String::from_utf8_lossy(q).into_owned()),
                    sid: String::from_utf8_lossy(&s.sid).into_owned(),
                    msgs: s.delivered.load(std::sync::atomic::Ordering::Relaxed),
                    max: 0,
                    cid: c.cid,
                })
                .collect();
            conn.subs.sort_by(|a, b| a.sid.cmp(&b.sid));
        }
        let dialed = r.link.role == crate::cluster::link::Role::Dialed;
        RouteView { conn, remote_id: r.link.peer_id.clone(), did_solicit: dialed, is_configured: r.url.is_some() }
    }

    pub fn serve_control(&mut self, req: Control) {
        match req {
            Control::Snapshot { with_subs, reply } => {
                let all =
                    self.conns.iter().flatten().filter(|c| !c.is_route()).map(|c| self.conn_info(c, with_subs, None)).collect();
                let _ = reply.send(all);
            }
            Control::Routes { with_subs, reply } => {
                let all = self
                    .conns
                    .iter()
                    .flatten()
                    .filter(|c| c.route.as_deref().is_some_and(|r| r.link.registered()))
                    .map(|c| self.route_view(c, with_subs))
                    .collect();
                let _ = reply.send(all);
            }
            Control::Leafs { with_subs, reply } => {
                let all = self
                    .conns
                    .iter()
                    .flatten()
                    .filter(|c| c.route.as_deref().and_then(|r| r.leaf.as_deref()).is_some_and(|l| l.link.linked()))
                    .map(|c| self.route_view(c, with_subs))
                    .collect();
                let _ = reply.send(all);
            }
            // Handled by the worker shell; a stray one only drops its socket.
            Control::RouteDialed { .. } | Control::LeafDialed { .. } => {}
        }
    }
}
