//! `listen`-style values (`listen`, `http`, `https`; later `cluster`/`leafnodes` `listen`),
//! read as nats-server's `parseListen`: an integer is a port on the default host, a string
//! is `host:port` (Go's `net.SplitHostPort`: `:port`, `host:port`, `[v6]:port`).
use super::error::ConfigError;
use super::parser::{Node, Value};

/// A parsed `listen` value. `host` is `None` when the value names no host (a bare port,
/// or `":port"`): the caller's default host applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: Option<String>,
    pub port: i32,
}

/// Typed reasons a `listen` value is refused; `parse_listen` words them as nats-server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ListenError {
    Address(String),
    Port(String),
    PortRange(i64),
    Type(&'static str),
}

impl ListenError {
    fn message(&self, key: &str) -> String {
        match self {
            ListenError::Address(s) => format!("could not parse address string {s:?}"),
            ListenError::Port(p) => format!("could not parse port {p:?}"),
            ListenError::PortRange(n) => format!("{key} port {n} is out of range (-1..65535)"),
            ListenError::Type(t) => format!("{key}: expected port or host:port, got {t}"),
        }
    }
}

/// Parses the value of `key` (named in errors) at its position.
pub fn parse_listen(key: &str, v: &Node) -> Result<HostPort, ConfigError> {
    host_port(&v.value).map_err(|e| ConfigError::at(&v.pos, e.message(key)))
}

fn host_port(v: &Value) -> Result<HostPort, ListenError> {
    match v {
        Value::Int(n) => Ok(HostPort { host: None, port: port_in_range(*n)? }),
        Value::String(s) => {
            let (host, port) = split_host_port(s).ok_or_else(|| ListenError::Address(s.clone()))?;
            let n: i64 = port.parse().map_err(|_| ListenError::Port(port.to_string()))?;
            let host = (!host.is_empty()).then(|| host.to_string());
            Ok(HostPort { host, port: port_in_range(n)? })
        }
        other => Err(ListenError::Type(other.type_name())),
    }
}

/// -1 picks a free port, 0 means the default (nats-server accepts any integer and fails
/// later, at bind; natrix refuses what can never bind).
fn port_in_range(n: i64) -> Result<i32, ListenError> {
    if (-1..=65535).contains(&n) {
        Ok(n as i32)
    } else {
        Err(ListenError::PortRange(n))
    }
}

/// Go's `net.SplitHostPort`: `None` where it returns an error.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            return None; // too many colons: an IPv6 address needs brackets
        }
        (host, port)
    };
    if host.contains(['[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(v: Value) -> Result<HostPort, String> {
        host_port(&v).map_err(|e| e.message("listen"))
    }
    fn s(x: &str) -> Value {
        Value::String(x.to_string())
    }
    fn ok(host: Option<&str>, port: i32) -> Result<HostPort, String> {
        Ok(HostPort { host: host.map(str::to_string), port })
    }

    #[test]
    fn go_forms() {
        assert_eq!(hp(Value::Int(8222)), ok(None, 8222));
        assert_eq!(hp(Value::Int(-1)), ok(None, -1));
        assert_eq!(hp(s(":8222")), ok(None, 8222));
        assert_eq!(hp(s("127.0.0.1:8222")), ok(Some("127.0.0.1"), 8222));
        assert_eq!(hp(s("[::1]:8222")), ok(Some("::1"), 8222));
        assert_eq!(hp(s("[::]:0")), ok(Some("::"), 0));
        assert_eq!(hp(s("localhost:+5")), ok(Some("localhost"), 5));
    }

    #[test]
    fn refusals_word_as_nats_server() {
        assert_eq!(hp(s("8222")).unwrap_err(), "could not parse address string \"8222\"");
        assert_eq!(hp(s("localhost")).unwrap_err(), "could not parse address string \"localhost\"");
        assert_eq!(hp(s("::1:8222")).unwrap_err(), "could not parse address string \"::1:8222\"");
        assert_eq!(hp(s("[::1]8222")).unwrap_err(), "could not parse address string \"[::1]8222\"");
        assert_eq!(hp(s("a:b")).unwrap_err(), "could not parse port \"b\"");
        assert_eq!(hp(s("a:")).unwrap_err(), "could not parse port \"\"");
        assert_eq!(hp(Value::Bool(true)).unwrap_err(), "listen: expected port or host:port, got boolean");
        assert_eq!(hp(Value::Int(70000)).unwrap_err(), "listen port 70000 is out of range (-1..65535)");
        assert!(hp(s("h:70000")).is_err());
    }
}
