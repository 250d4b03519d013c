//! Output limits. Everything queued to a connection counts against `max_pending`:
//! deliveries and natrix's own replies (PONG, `+OK`, `-ERR`, INFO, PING, 503s). The
//! limit is judged after the connection's writes, not at each append: a reader at full
//! speed drains one publisher's burst within the cycle even when the burst is larger than
//! a small `max_pending`, while a client that does not read stays over it and is closed
//! as a slow consumer. Appends are capped at `max_pending` plus one burst at all times,
//! so memory stays bounded between writes; no one's input is ever paused for it.
use super::conn::{CloseReason, Conn};
use super::core::Core;
use std::time::Duration;

/// How long output may stay over `max_pending` after the connection's writes before it
/// is a slow consumer (`write_deadline` if shorter). A reader at full speed takes a burst
/// within milliseconds; a reader that does not read stays over it.
pub(super) const SLOW_CONSUMER_GRACE: Duration = Duration::from_millis(500);

/// How far output may grow past `max_pending` between two writes (one cycle's burst:
/// the 512 KiB read budget of a few publishers, or other workers' batches); an append
/// beyond it makes the connection a slow consumer at once.
pub(super) const BURST_ALLOWANCE: usize = 4 << 20;

impl Core {
    /// The most output a connection may have queued at any moment.
    #[inline]
    pub(super) fn out_cap(&self) -> usize {
        (self.opts.max_pending as usize).saturating_add(BURST_ALLOWANCE)
    }

    /// Whether `n` more bytes of natrix's own output fit under `out_cap`; if not, the
    /// connection is closed as a slow consumer (deliveries do the same check inline in
    /// `write_delivery`). False also when the connection is gone or closing.
    pub(super) fn reserve_out(&mut self, slot: u32, n: usize) -> bool {
        let cap = self.out_cap();
        let Some(c) = self.conn(slot) else { return false };
        if c.closing.is_some() {
            return false;
        }
        if c.out.pending().saturating_add(n) > cap {
            self.close(slot, CloseReason::SlowConsumerPending);
            return false;
        }
        true
    }

    /// After a write attempt (the shell calls it for every connection it flushed): output
    /// still over `max_pending` starts the grace; output that stays over it for the whole
    /// grace, draining or not, makes the connection a slow consumer. `tick` checks the
    /// same for connections that got no new output to write.
    pub fn judge_output(&mut self, slot: u32) {
        let max = self.opts.max_pending as usize;
        let now = self.now;
        let grace = self.slow_consumer_grace();
        let Some(c) = self.conn_mut(slot) else { return };
        if c.out.pending() <= max {
            c.over_limit_since = None;
            return;
        }
        let since = *c.over_limit_since.get_or_insert(now);
        if now.saturating_duration_since(since) >= grace {
            self.close(slot, CloseReason::SlowConsumerPending);
        }
    }

    /// Whether a connection's output has been over `max_pending` for the whole grace (for
    /// `tick`, which closes it).
    pub(super) fn over_limit_too_long(&self, slot: u32) -> bool {
        let grace = self.slow_consumer_grace();
        self.conn(slot)
            .and_then(|c| c.over_limit_since)
            .is_some_and(|since| self.now.saturating_duration_since(since) >= grace)
    }

    fn slow_consumer_grace(&self) -> Duration {
        SLOW_CONSUMER_GRACE.min(self.opts.write_deadline)
    }
}

/// nats-server's `[INF]` line for a slow consumer, with its `cid:`/`rid:`/`lid:` prefix
/// (`client.go`: `queueOutbound` and `handleWriteTimeout`; natrix's output is one chunk).
pub(super) fn log_slow_consumer(c: &Conn, reason: CloseReason, max_pending: u64, write_deadline: Duration) {
    let kind = match c.route.as_deref() {
        Some(r) if r.leaf.is_some() => "lid",
        Some(_) => "rid",
        None => "cid",
    };
    if reason == CloseReason::SlowConsumerWriteDeadline {
        crate::info!(
            "{} - {kind}:{} - Slow Consumer Detected: WriteDeadline of {} exceeded with 1 chunks of {} total bytes.",
            c.addr,
            c.cid,
            crate::monitor::format::go_duration(write_deadline),
            c.out.pending()
        );
    } else {
        crate::info!("{} - {kind}:{} - Slow Consumer Detected: MaxPending of {max_pending} Exceeded", c.addr, c.cid);
    }
}
