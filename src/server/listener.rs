//! Client listeners: one socket per worker on the same address with `SO_REUSEPORT`,
//! so the kernel spreads new connections across workers.
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Listen backlog (nats-server relies on Go's default, the kernel's somaxconn).
const BACKLOG: i32 = 4096;

/// Resolves `host` and `port` (0 or -1 = pick a free one; callers map 0 to 4222 first).
pub fn resolve(host: &str, port: i32) -> io::Result<SocketAddr> {
    let port = if port < 0 { 0 } else { port };
    let port = u16::try_from(port)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("invalid port {port}")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve host {host:?}")))
}

/// Binds one non-blocking listener with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub fn bind(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    let std_listener: std::net::TcpListener = socket.into();
    Ok(mio::net::TcpListener::from_std(std_listener))
}

/// Binds `count` listeners on `addr`; with port 0 the first picks the port and the
/// rest join it.
pub fn bind_all(addr: SocketAddr, count: usize) -> io::Result<(Vec<mio::net::TcpListener>, SocketAddr)> {
    let first = bind(addr)?;
    let actual = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(bind(actual)?);
    }
    Ok((all, actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_port_shared_by_all() {
        let addr = resolve("127.0.0.1", -1).unwrap();
        let (ls, actual) = bind_all(addr, 3).unwrap();
        assert_eq!(ls.len(), 3);
        assert_ne!(actual.port(), 0);
        for l in &ls {
            assert_eq!(l.local_addr().unwrap(), actual);
        }
    }

    #[test]
    fn bad_port_is_an_error() {
        assert!(resolve("127.0.0.1", 70000).is_err());
    }
}
