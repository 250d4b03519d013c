//! Lame duck mode (SIGUSR2), as nats-server: stop accepting, send protocol-1 clients
//! an INFO with `"ldm":true` so they move elsewhere, wait the grace period, then close
//! the remaining clients spread evenly over the rest of `lame_duck_duration`.
use super::conn::CloseReason;
use super::core::Core;
use std::time::Instant;

/// A worker's progress through lame duck mode.
#[derive(Debug, Default)]
pub struct LameDuck {
    /// The `ldm` INFO has been sent and the listener dropped.
    pub announced: bool,
    /// Connections open when the grace period ended (the ones to spread closing over).
    pub to_close: Option<usize>,
    pub closed: usize,
}

impl Core {
    /// Sends `INFO {…,"ldm":true}` to every client that asked for async INFO (with the
    /// other servers' URLs only, so that they move there) and to every registered
    /// route (so that the peers stop advertising this server's URLs).
    pub fn announce_lame_duck(&mut self) {
        let mut info = self.info_template().clone();
        info.lame_duck_mode = true;
        let shared = self.shared.clone();
        if let Some(cl) = shared.cluster.as_ref() {
            if !info.connect_urls.is_empty() {
                info.connect_urls = cl.peer_client_urls();
            }
            let mut ldm = Vec::new();
            cl.lame_duck_info(&mut ldm);
            for slot in 0..self.conns.len() as u32 {
                let Some(c) = self.conns[slot as usize].as_mut() else { continue };
                if c.closing.is_none() && c.route.as_deref().is_some_and(|r| r.link.registered()) {
                    c.out.buf.extend_from_slice(&ldm);
                    self.mark_dirty(slot);
                }
            }
        }
        for slot in 0..self.conns.len() as u32 {
            let Some(c) = self.conns[slot as usize].as_mut() else { continue };
            if c.flags.protocol < 1 || c.closing.is_some() || c.route.is_some() {
                continue;
            }
            info.client_id = c.cid;
            info.client_ip = Some(c.addr.ip().to_string());
            info.nonce = c.nonce.as_deref().map(str::to_string);
            // (An INFO line is well under 1 KiB; the cap has megabytes of slack anyway.)
            if !self.reserve_out(slot, 1024) {
                continue;
            }
            if let Some(c) = self.conns[slot as usize].as_mut() {
                crate::proto::write_info(&mut c.out.buf, &info);
            }
            self.mark_dirty(slot);
        }
    }

    /// Closes this worker's share of connections due by `now`.
    pub fn lame_duck_tick(&mut self, started: Instant, state: &mut LameDuck) {
        let grace = self.opts.lame_duck_grace_period;
        let elapsed = self.now.saturating_duration_since(started);
        if elapsed < grace {
            return;
        }
        // Routes stay up until shutdown (nats-server closes clients only), so that the
        // peers keep this server's interest while its clients move away.
        let clients = (0..self.conns.len() as u32).filter(|&s| self.conn(s).is_some_and(|c| c.route.is_none())).count();
        let total = *state.to_close.get_or_insert(clients);
        let window = self.opts.lame_duck_duration.saturating_sub(grace);
        let due = if window.is_zero() || elapsed - grace >= window {
            total
        } else {
            let frac = (elapsed - grace).as_secs_f64() / window.as_secs_f64();
            ((total as f64 * frac).ceil() as usize).min(total)
        };
        let mut slot = 0;
        while state.closed < due && slot < self.conns.len() as u32 {
            if self.conn(slot).is_some_and(|c| c.closing.is_none() && c.route.is_none()) {
                self.close(slot, CloseReason::ServerShutdown);
                state.closed += 1;
            }
            slot += 1;
        }
    }
}
