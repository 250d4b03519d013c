//! The I/O shell around `Core`: one thread, one `mio::Poll`, its own listener and
//! sockets. Each cycle: poll, accept, read and process, receive other workers'
//! batches, send ours, write every connection that has output, close, tick timers.
use super::batch::Batch;
use super::conn::{CloseReason, MAX_READ, MIN_READ};
use super::core::Core;
use super::shared::Shared;
use super::transport::Transport;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const LISTENER: Token = Token(usize::MAX);
pub const WAKER: Token = Token(usize::MAX - 1);
pub const CLUSTER_LISTENER: Token = Token(usize::MAX - 2);
pub const LEAF_LISTENER: Token = Token(usize::MAX - 3);

/// Housekeeping period: ping timers, write deadlines, idle buffer release.
const TICK: Duration = Duration::from_millis(100);
/// Bytes read from one connection per cycle before others get their turn.
pub(super) const READ_BUDGET: usize = 512 * 1024;

pub struct Worker {
    pub core: Core,
    poll: Poll,
    listener: Option<TcpListener>,
    /// The cluster port (route worker only).
    cluster_listener: Option<TcpListener>,
    /// The leaf port (route worker only).
    leaf_listener: Option<TcpListener>,
    pub(super) sockets: Vec<Option<Transport>>,
    /// Connections that hit the read budget and may have more to read.
    pub(super) more_to_read: Vec<u32>,
    inbox_scratch: Vec<Batch>,
    lame_duck: super::lame_duck::LameDuck,
    /// `handshake_first` fallback delays still running: (deadline, slot, cid).
    pub(super) tls_fallbacks: std::collections::VecDeque<(Instant, u32, u64)>,
}

impl Worker {
    pub fn new(
        id: u16,
        shared: Arc<Shared>,
        poll: Poll,
        mut listener: TcpListener,
        mut cluster_listener: Option<TcpListener>,
        mut leaf_listener: Option<TcpListener>,
    ) -> io::Result<Self> {
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        if let Some(l) = cluster_listener.as_mut() {
            poll.registry().register(l, CLUSTER_LISTENER, Interest::READABLE)?;
        }
        if let Some(l) = leaf_listener.as_mut() {
            poll.registry().register(l, LEAF_LISTENER, Interest::READABLE)?;
        }
        Ok(Worker {
            core: Core::new(id, shared, Instant::now()),
            poll,
            listener: Some(listener),
            cluster_listener,
            leaf_listener,
            sockets: Vec::new(),
            more_to_read: Vec::new(),
            inbox_scratch: Vec::new(),
            lame_duck: Default::default(),
            tls_fallbacks: Default::default(),
        })
    }

    /// Runs until the server shuts down.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = if self.more_to_read.is_empty() && !self.core.reaping() {
                let wake = self.next_tls_fallback().map_or(next_tick, |f| f.min(next_tick));
                wake.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::error!("worker {}: poll failed: {e}", self.core.id);
                    break;
                }
            }
            self.core.now = Instant::now();
            self.core.refresh_options();
            // Other workers' messages first: whatever they queued before this poll
            // returned was published before anything we are about to read.
            if events.iter().any(|e| e.token() == WAKER) {
                self.receive_batches();
            }
            for slot in std::mem::take(&mut self.more_to_read) {
                self.read_conn(slot, false);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    CLUSTER_LISTENER => self.accept_routes(),
                    LEAF_LISTENER => self.accept_leafs(),
                    WAKER => {}
                    Token(t) => {
                        let slot = t as u32;
                        let eof = event.is_read_closed() || event.is_error();
                        if event.is_readable() || eof {
                            self.read_conn(slot, eof);
                        }
                        if event.is_writable() {
                            self.core.mark_dirty(slot);
                        }
                    }
                }
            }
            self.expire_tls_fallbacks();
            self.end_cycle();
            if self.core.now >= next_tick {
                if let Some(&started) = self.core.shared.lame_duck.get() {
                    self.lame_duck_step(started);
                }
                self.core.tick();
                self.end_cycle();
                next_tick = self.core.now + TICK;
            }
            if self.core.shared.is_shutting_down() {
                self.shutdown();
                return;
            }
        }
    }

    fn end_cycle(&mut self) {
        self.core.refresh_connect_urls();
        if self.cluster_listener.is_some() {
            self.core.drain_route_pending();
        }
        if self.core.id == super::cluster_state::ROUTE_WORKER && self.core.shared.leaf.is_some() {
            self.core.drain_leaf_pending();
        }
        self.core.send_batches();
        self.flush_all();
        self.close_pending();
        self.core.reap_subs();
        let stats = &self.core.shared.stats;
        self.core.cycle.publish(stats);
    }

    fn accept_all(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else { return };
            match listener.accept() {
                Ok((mut sock, addr)) => {
                    let addr = super::listener::canonical_peer(addr);
                    let _ = sock.set_nodelay(true);
                    let slot = self.core.accept(addr);
                    let token = Token(slot as usize);
                    if let Err(e) =
                        self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)
                    {
                        crate::error!("registering connection from {addr}: {e}");
                        self.core.remove(slot);
                        continue;
                    }
                    // (A dropped socket leaves the poll when its descriptor closes.)
                    let Some(transport) = self.wrap_socket(slot, sock) else {
                        self.core.remove(slot);
                        continue;
                    };
                    if self.sockets.len() <= slot as usize {
                        self.sockets.resize_with(slot as usize + 1, || None);
                    }
                    self.sockets[slot as usize] = Some(transport);
                    crate::debug!("{addr} - cid:{} - Client connection created", self.cid(slot));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. out of file descriptors: try again on the next readiness event.
                    crate::error!("error accepting client connection: {e}");
                    return;
                }
            }
        }
    }

    /// Accepts route connections on the cluster port.
    fn accept_routes(&mut self) {
        loop {
            let Some(listener) = self.cluster_listener.as_ref() else { return };
            match listener.accept() {
                Ok((sock, addr)) => {
                    let _ = sock.set_nodelay(true);
                    let slot = self.core.accept_route(addr);
                    self.add_route_socket(slot, sock);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::error!("error accepting route connection: {e}");
                    return;
                }
            }
        }
    }

    /// Accepts leaf connections on the leaf port.
    fn accept_leafs(&mut self) {
        loop {
            let Some(listener) = self.leaf_listener.as_ref() else { return };
            match listener.accept() {
                Ok((sock, addr)) => {
                    let _ = sock.set_nodelay(true);
                    let slot = self.core.accept_leaf(addr);
                    self.add_route_socket(slot, sock);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    crate::error!("error accepting leafnode connection: {e}");
                    return;
                }
            }
        }
    }

    fn add_route_socket(&mut self, slot: u32, mut sock: mio::net::TcpStream) {
        let token = Token(slot as usize);
        if let Err(e) = self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE) {
            crate::error!("registering route connection: {e}");
            self.core.close(slot, CloseReason::WriteError);
            return;
        }
        let Some(transport) = self.route_transport(slot, sock) else {
            return self.core.route_tls_failed(slot);
        };
        if self.sockets.len() <= slot as usize {
            self.sockets.resize_with(slot as usize + 1, || None);
        }
        self.sockets[slot as usize] = Some(transport);
    }

    fn cid(&self, slot: u32) -> u64 {
        self.core.conn(slot).map_or(0, |c| c.cid)
    }

    /// Reads until the socket is drained or the budget is spent, handing each read
    /// to the core at once so the buffer never holds more than one read beyond an
    /// unfinished frame. A short read means the socket is drained, unless the peer
    /// also closed (`eof`): one edge-triggered event reports both, so read on to the EOF.
    fn read_conn(&mut self, slot: u32, eof: bool) {
        let mut budget = READ_BUDGET;
        loop {
            let sock = match self.sockets.get_mut(slot as usize).and_then(Option::as_mut) {
                Some(Transport::Plain(sock)) => sock,
                Some(Transport::Tls(_)) => return self.read_tls(slot),
                None => return,
            };
            let Some(conn) = self.core.conns.get_mut(slot as usize).and_then(Option::as_mut) else { return };
            // A parked connection is read again when its verdict arrives (`Core::resumed`).
            if conn.closing.is_some() || conn.parked.is_some() {
                return;
            }
            let want = conn.read_size;
            let len = conn.rbuf.len();
            conn.rbuf.resize(len + want, 0);
            match sock.read(&mut conn.rbuf[len..]) {
                Ok(0) => {
                    conn.rbuf.truncate(len);
                    self.core.close(slot, CloseReason::ClientClosed);
                    return;
                }
                Ok(n) => {
                    conn.rbuf.truncate(len + n);
                    if n == want {
                        conn.read_size = (want * 2).min(MAX_READ);
                    } else if n < want / 4 {
                        conn.read_size = (want / 2).max(MIN_READ);
                    }
                    self.core.process_input_guarded(slot);
                    if n < want && !eof {
                        return;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.more_to_read.push(slot);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.rbuf.truncate(len);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    conn.rbuf.truncate(len);
                }
                Err(_) => {
                    conn.rbuf.truncate(len);
                    self.core.close(slot, CloseReason::ReadError);
                    return;
                }
            }
        }
    }

    fn receive_batches(&mut self) {
        let me = self.core.id as usize;
        let shared = self.core.shared.clone();
        let controls = std::mem::take(&mut *shared.inboxes[me].control.lock());
        for c in controls {
            match c {
                super::snapshot::Control::RouteDialed { stream, addr, url } => {
                    let slot = self.core.dialed_route(addr, url);
                    self.add_route_socket(slot, mio::net::TcpStream::from_std(stream));
                }
                super::snapshot::Control::LeafDialed { stream, addr, remote, url } => {
                    let slot = self.core.dialed_leaf(addr, remote, url);
                    self.add_route_socket(slot, mio::net::TcpStream::from_std(stream));
                }
                c => self.core.serve_control(c),
            }
        }
        let verdicts = std::mem::take(&mut *shared.inboxes[me].verdicts.lock());
        for v in verdicts {
            self.core.apply_verdict(v);
        }
        self.more_to_read.append(&mut self.core.resumed);
        shared.inboxes[me].drain_into(&mut self.inbox_scratch);
        for batch in self.inbox_scratch.drain(..) {
            self.core.receive_batch(&batch);
            let from = batch.from as usize;
            if let Some(inbox) = shared.inboxes.get(from) {
                inbox.give_spare(batch);
            }
        }
    }

    /// Writes queued output of every connection touched this cycle.
    fn flush_all(&mut self) {
        let list = std::mem::take(&mut self.core.flush_list);
        for &slot in &list {
            self.flush(slot);
        }
        let mut list = list;
        list.clear();
        if self.core.flush_list.is_empty() {
            self.core.flush_list = list;
        }
    }

    fn flush(&mut self, slot: u32) {
        let now = self.core.now;
        let Some(conn) = self.core.conns.get_mut(slot as usize).and_then(Option::as_mut) else { return };
        conn.dirty = false;
        if conn.closing.is_some() {
            return; // close_pending decides whether to flush
        }
        let Some(sock) = self.sockets.get_mut(slot as usize).and_then(Option::as_mut) else { return };
        let before = conn.out.pending();
        match sock.write_out(&mut conn.out) {
            Ok(true) => conn.stalled_since = None,
            // The write deadline measures time without progress, not time to drain.
            Ok(false) if conn.out.pending() < before => conn.stalled_since = Some(now),
            Ok(false) => {
                conn.stalled_since.get_or_insert(now);
            }
            Err(_) => return self.core.close(slot, CloseReason::WriteError),
        }
        // Slow consumers are judged by what stays pending after the write.
        self.core.judge_output(slot);
    }

    fn close_pending(&mut self) {
        while let Some(slot) = self.core.close_list.pop() {
            let reason = self.core.conn(slot).and_then(|c| c.closing).unwrap_or(CloseReason::ClientClosed);
            let sock = self.sockets.get_mut(slot as usize).and_then(Option::take);
            let conn = self.core.remove(slot);
            if let (Some(mut sock), Some(mut conn)) = (sock, conn) {
                if reason.flushes() {
                    if conn.out.pending() > 0 {
                        let _ = sock.write_out(&mut conn.out);
                    }
                    sock.close_notify();
                }
                if !conn.is_route() {
                    let info = self.core.conn_info(&conn, true, Some(reason));
                    self.core.shared.remember_closed(info);
                }
                let sock = sock.sock_mut();
                let _ = self.poll.registry().deregister(sock);
                let _ = sock.shutdown(std::net::Shutdown::Both);
                crate::debug!("{} - cid:{} - Client connection closed: {}", conn.addr, conn.cid, reason.as_str());
            }
        }
    }

    fn lame_duck_step(&mut self, started: Instant) {
        if !self.lame_duck.announced {
            self.lame_duck.announced = true;
            if let Some(mut l) = self.listener.take() {
                let _ = self.poll.registry().deregister(&mut l);
            }
            self.core.announce_lame_duck();
        }
        self.core.lame_duck_tick(started, &mut self.lame_duck);
    }

    /// Graceful stop: no new connections and no more input; what was already accepted
    /// is delivered (bounded by `write_deadline`), then everyone is closed.
    fn shutdown(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        if let Some(mut l) = self.cluster_listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        self.receive_batches();
        self.core.send_batches();
        self.core.shared.final_sends.fetch_add(1, Ordering::AcqRel);
        self.drain_output();
        for slot in 0..self.core.conns.len() as u32 {
            if self.core.conn(slot).is_some() {
                self.core.close(slot, CloseReason::ServerShutdown);
            }
        }
        self.close_pending();
    }
}

impl Worker {
    /// Keeps receiving other workers' last batches and writing queued output until every
    /// worker has sent its last batch and our output is gone, or the write deadline passes.
    fn drain_output(&mut self) {
        let shared = self.core.shared.clone();
        let deadline = Instant::now() + shared.live_options().write_deadline;
        let mut events = Events::with_capacity(256);
        loop {
            self.receive_batches();
            let mut pending = false;
            for slot in 0..self.core.conns.len() as u32 {
                if self.core.conn(slot).is_some_and(|c| c.closing.is_none() && c.out.pending() > 0) {
                    self.flush(slot);
                    pending |= self.core.conn(slot).is_some_and(|c| c.closing.is_none() && c.out.pending() > 0);
                }
            }
            self.close_pending();
            let all_sent = shared.final_sends.load(Ordering::Acquire) >= shared.inboxes.len();
            if (!pending && all_sent) || Instant::now() >= deadline {
                return;
            }
            let _ = self.poll.poll(&mut events, Some(Duration::from_millis(10)));
        }
    }
}

