//! HTTP monitoring (`http`, `http_port`, `-m`): nats-server's endpoints with the same JSON,
//! plus `/metrics` in the Prometheus text format. One thread serves requests; figures
//! come from per-worker counters and snapshots gathered on request.
mod endpoints;
pub mod format;
mod gnatsd;
pub mod https;
mod metrics;
mod leafz;
mod routez;
pub mod procinfo;

use crate::server::shared::Shared;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

/// A request's query parameters.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(q: &str) -> Query {
        let pairs = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Go's `strconv.ParseBool` forms; absent or empty = false. Errors carry nats-server's text.
    pub fn bool(&self, key: &str) -> Result<bool, String> {
        match self.get(key).unwrap_or("") {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            other => Err(format!("Error decoding boolean for '{key}': strconv.ParseBool: parsing \"{other}\": invalid syntax")),
        }
    }

    /// An integer parameter; negative values count as 0 (as nats-server's paging does).
    pub fn usize(&self, key: &str) -> Result<Option<usize>, String> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map(|n| n.max(0) as usize)
                    .map_err(|_| format!("Error decoding int for '{key}': strconv.Atoi: parsing \"{v}\": invalid syntax"))
            })
            .transpose()
    }
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running monitor.
pub struct Monitor {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn stop(mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the monitor on `host:port` (port -1 = a free one).
pub fn start(shared: Arc<Shared>, host: &str, port: i32) -> io::Result<Monitor> {
    let listener = crate::server::listener::bind_monitor(host, port)?;
    let server = tiny_http::Server::from_listener(listener, None).map_err(|e| io::Error::other(e.to_string()))?;
    let addr = server.server_addr().to_ip().ok_or_else(|| io::Error::other("monitor is not on an IP address"))?;
    let server = Arc::new(server);
    let started = SystemTime::now();
    let stats: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let srv = server.clone();
    let thread = std::thread::Builder::new().name("natrix-monitor".into()).spawn(move || {
        for req in srv.incoming_requests() {
            let (status, ctype, body) = handle(&shared, started, &stats, req.url());
            let mut resp = tiny_http::Response::from_data(body).with_status_code(status);
            if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes()) {
                resp.add_header(h);
            }
            let _ = req.respond(resp);
        }
    })?;
    Ok(Monitor { addr, server, thread: Some(thread) })
}

/// Routes one request: (status, content type, body).
pub(crate) fn handle(shared: &Shared, started: SystemTime, stats: &Mutex<BTreeMap<String, u64>>, url: &str) -> (u16, &'static str, Vec<u8>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let base = shared.opts.http_base_path.trim_end_matches('/');
    let path = path.strip_prefix(base).unwrap_or(path);
    let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
    let q = Query::parse(query);
    let known = ["/", "/varz", "/connz", "/routez", "/subsz", "/subscriptionsz", "/accountz", "/healthz", "/metrics", "/leafz"];
    if !known.contains(&path) {
        return (404, "text/plain", b"404 page not found\n".to_vec());
    }
    let counts = {
        let mut s = stats.lock();
        *s.entry(path.to_string()).or_insert(0) += 1;
        s.clone()
    };
    // Serialized straight from the structs so fields keep nats-server's order.
    let json = |v: Result<Vec<u8>, String>| -> (u16, &'static str, Vec<u8>) {
        match v {
            Ok(body) => {
                match q.get("callback") {
                    Some(cb) => {
                        let mut out = format!("{cb}(").into_bytes();
                        out.extend_from_slice(&body);
                        out.push(b')');
                        (200, "application/javascript", out)
                    }
                    None => (200, "application/json", body),
                }
            }
            Err(e) => (400, "text/plain", e.into_bytes()),
        }
    };
    fn body<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec_pretty(v).map_err(|e| e.to_string())
    }
    match path {
        "/varz" => json(body(&endpoints::varz(shared, started, counts))),
        "/connz" => json(endpoints::connz(shared, &q).and_then(|c| body(&c))),
        "/routez" => json(routez::routez(shared, &q).and_then(|c| body(&c))),
        "/leafz" => json(leafz::leafz(shared, &q).and_then(|c| body(&c))),
        "/subsz" | "/subscriptionsz" => json(endpoints::subsz(shared, &q).and_then(|c| body(&c))),
        "/accountz" => json(endpoints::accountz(shared, &q).and_then(|c| body(&c))),
        "/healthz" => json(body(&serde_json::json!({"status": "ok"}))),
        "/metrics" => match metrics::render(shared, &endpoints::varz(shared, started, counts), &q) {
            Ok(text) => (200, "text/plain; version=0.0.4", text.into_bytes()),
            Err(e) => (400, "text/plain", e.into_bytes()),
        },
        _ => (200, "text/html", index(base).into_bytes()),
    }
}

fn index(base: &str) -> String {
    let links: String = ["varz", "connz", "routez", "leafz", "subsz", "accountz", "healthz", "metrics"]
        .iter()
        .map(|p| format!("<a href=\"{base}/{p}\">{p}</a><br/>\n"))
        .collect();
    format!("<html><head><title>natrix monitoring</title></head><body>\n<h1>natrix</h1>\n{links}</body></html>\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        let q = Query::parse("subs=detail&limit=5&sort=bytes_to&x=a%20b&flag");
        assert_eq!(q.get("subs"), Some("detail"));
        assert_eq!(q.usize("limit"), Ok(Some(5)));
        assert_eq!(q.get("x"), Some("a b"));
        assert_eq!(q.bool("flag"), Ok(false));
        assert!(q.bool("subs").is_err());
        assert!(q.usize("sort").is_err());
        assert_eq!(Query::parse("offset=-3").usize("offset"), Ok(Some(0)));
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%4"), "%4");
    }
}
