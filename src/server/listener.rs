//! Client listeners: one socket per worker on the same address with `SO_REUSEPORT`,
//! so the kernel spreads new connections across workers.
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv6Addr, SocketAddr, ToSocketAddrs};

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

/// Go listens on `[::]` dual-stack when asked for the unspecified IPv4 address (`0.0.0.0`,
/// nats-server's default host), so IPv6 clients reach it too; natrix does the same.
fn dual_stack(addr: SocketAddr) -> Option<SocketAddr> {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => Some(SocketAddr::from((Ipv6Addr::UNSPECIFIED, a.port()))),
        _ => None,
    }
}

/// Errors that mean "this host has no IPv6": fall back to IPv4.
fn ipv6_unavailable(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT))
}

/// A bound, listening, non-blocking socket on `addr` (dual-stack for `0.0.0.0` where
/// the host has IPv6); `reuse_port` for the per-worker client listeners.
fn open(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    if let Some(v6) = dual_stack(addr) {
        match open_exact(v6, reuse_port) {
            Err(e) if ipv6_unavailable(&e) => {}
            other => return other,
        }
    }
    open_exact(addr, reuse_port)
}

fn open_exact(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        // Go's wildcard listeners take IPv4 too; a host that cannot is treated as IPv4-only.
        socket.set_only_v6(false).map_err(|_| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket)
}

/// Binds one non-blocking client listener with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub fn bind(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let std_listener: std::net::TcpListener = open(addr, true)?.into();
    Ok(mio::net::TcpListener::from_std(std_listener))
}

/// A blocking listener for the monitoring ports on `host:port` (-1 = a free port),
/// dual-stack like the client port.
pub fn bind_monitor(host: &str, port: i32) -> io::Result<std::net::TcpListener> {
    let socket = open(resolve(host, port)?, false)?;
    socket.set_nonblocking(false)?;
    Ok(socket.into())
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

/// A peer address as nats-server shows it: an IPv4 client of a dual-stack listener
/// (`::ffff:a.b.c.d`) is the IPv4 address, for `/connz`, INFO `client_ip` and JWT `src`.
pub fn canonical_peer(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, a.port())),
            None => addr,
        },
        v4 => v4,
    }
}

/// `host:port` as Go's `net.JoinHostPort` writes it (brackets around IPv6), for log lines.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
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
    fn default_host_is_dual_stack() {
        let addr = resolve("0.0.0.0", -1).unwrap();
        let (ls, actual) = bind_all(addr, 2).unwrap();
        let port = actual.port();
        let v4 = std::net::TcpStream::connect(("127.0.0.1", port)).expect("IPv4 client");
        let v6_host = std::net::TcpListener::bind("[::1]:0").is_ok();
        if v6_host {
            assert!(actual.is_ipv6(), "with IPv6 the default host listens on [::], got {actual}");
            std::net::TcpStream::connect(("::1", port)).expect("IPv6 client");
        } else {
            println!("SKIPPED (::1 part): this host has no IPv6");
        }
        // The IPv4 client's address as the server sees it is plain IPv4.
        let expected = if v6_host { 2 } else { 1 };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut peers = Vec::new();
        while peers.len() < expected && std::time::Instant::now() < deadline {
            for l in &ls {
                while let Ok((_, a)) = l.accept() {
                    peers.push(canonical_peer(a));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let v4_ip = v4.local_addr().unwrap().ip();
        assert!(peers.iter().any(|p| p.ip() == v4_ip), "accepted {peers:?}, want {v4_ip}");
    }

    #[test]
    fn a_specific_ipv4_host_stays_ipv4() {
        let (_ls, actual) = bind_all(resolve("127.0.0.1", -1).unwrap(), 1).unwrap();
        assert!(actual.is_ipv4());
        assert_eq!(join_host_port("::", 4222), "[::]:4222");
        assert_eq!(join_host_port("0.0.0.0", 4222), "0.0.0.0:4222");
    }

    #[test]
    fn bad_port_is_an_error() {
        assert!(resolve("127.0.0.1", 70000).is_err());
    }
}
