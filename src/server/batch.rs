//! Cross-worker delivery: messages for connections owned by another worker are
//! collected in a per-destination batch and handed over once per event-loop cycle
//! (one mutex push and at most one `Waker::wake` per batch, not per message).
//!
//! A batch does not copy payloads: it holds reference-counted, frozen slices
//! (`bytes::Bytes`) of the publishers' read buffers, and each item names byte
//! ranges inside one of them.
use crate::subject::Subscription;
use bytes::Bytes;
use parking_lot::Mutex;
use std::ops::Range;
use std::sync::Arc;

/// A byte range inside one of the batch's chunks (u32 keeps items small).
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    #[inline]
    pub fn of(base: *const u8, part: &[u8]) -> Span {
        // Offsets of a sub-slice within the read buffer it was parsed from.
        let start = part.as_ptr() as usize - base as usize;
        Span { start: start as u32, end: (start + part.len()) as u32 }
    }

    #[inline]
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One message for one subscription.
pub struct Item {
    pub sub: Arc<Subscription>,
    pub chunk: u32,
    pub subject: Span,
    pub reply: Option<Span>,
    pub headers: Option<Span>,
    pub payload: Span,
    /// The delivery that reached the subscription's auto-unsubscribe limit.
    pub last: bool,
}

impl Item {
    /// Whether `other` names the same bytes (the same message for another subscription).
    #[inline]
    pub fn same_message(&self, other: &Item) -> bool {
        self.chunk == other.chunk
            && self.payload.start == other.payload.start
            && self.payload.end == other.payload.end
            && self.subject.start == other.subject.start
    }
}

/// `Item::chunk` of an item whose bytes are in the batch's own buffer.
pub const OWN: u32 = u32::MAX;

/// Messages from one worker to another.
#[derive(Default)]
pub struct Batch {
    /// The sending worker (emptied batches go back to it for reuse).
    pub from: u16,
    pub chunks: Vec<Bytes>,
    pub items: Vec<Item>,
    /// Bytes of messages that are not slices of a read buffer (subjects rewritten by
    /// an import, generated headers): copied here once per destination worker.
    pub own: Vec<u8>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.items.clear();
        self.own.clear();
    }

    /// Adds the message of the last item again, for `sub` (no copy of its bytes).
    pub fn push_same(&mut self, sub: &Arc<Subscription>) {
        let Some(l) = self.items.last() else { return };
        let item = Item { sub: sub.clone(), chunk: l.chunk, subject: l.subject, reply: l.reply, headers: l.headers, payload: l.payload, last: false };
        self.items.push(item);
    }

    /// Adds a message by copying its bytes into the batch's own buffer.
    pub fn push_copy(&mut self, sub: &Arc<Subscription>, msg: &crate::proto::Message<'_>, last: bool) {
        let mut put = |b: &[u8]| {
            let start = self.own.len() as u32;
            self.own.extend_from_slice(b);
            Span { start, end: self.own.len() as u32 }
        };
        let subject = put(msg.subject);
        let reply = msg.reply.map(&mut put);
        let headers = msg.headers.map(&mut put);
        let payload = put(msg.payload);
        self.items.push(Item { sub: sub.clone(), chunk: OWN, subject, reply, headers, payload, last });
    }
}

/// A worker's mailbox: batches pushed by other workers, plus emptied batches to reuse.
#[derive(Default)]
pub struct Inbox {
    pub queue: Mutex<Vec<Batch>>,
    /// Emptied batches returned by the receiver so senders reuse their capacity.
    pub spare: Mutex<Vec<Batch>>,
    /// Requests from outside the event loops (monitoring).
    pub control: Mutex<Vec<super::snapshot::Control>>,
    /// Results of bcrypt checks run by the auth threads for this worker's connections.
    pub verdicts: Mutex<Vec<super::auth_pool::Verdict>>,
}

impl Inbox {
    /// Queues a batch; returns true when the queue was empty (the receiver must be woken).
    pub fn push(&self, batch: Batch) -> bool {
        let mut q = self.queue.lock();
        let was_empty = q.is_empty();
        q.push(batch);
        was_empty
    }

    /// Takes everything queued, swapping in `into` (which must be empty).
    pub fn drain_into(&self, into: &mut Vec<Batch>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *self.queue.lock(), into);
    }

    pub fn take_spare(&self) -> Batch {
        self.spare.lock().pop().unwrap_or_default()
    }

    pub fn give_spare(&self, mut batch: Batch) {
        batch.clear();
        let mut spare = self.spare.lock();
        if spare.len() < 16 {
            spare.push(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_of_subslice() {
        let buf = b"PUB foo 3\r\nabc\r\n";
        let s = Span::of(buf.as_ptr(), &buf[4..7]);
        assert_eq!(&buf[s.range()], b"foo");
        assert!(!s.is_empty());
    }

    #[test]
    fn inbox_push_reports_first() {
        let inbox = Inbox::default();
        assert!(inbox.push(Batch::default()));
        assert!(!inbox.push(Batch::default()));
        let mut v = Vec::new();
        inbox.drain_into(&mut v);
        assert_eq!(v.len(), 2);
        assert!(inbox.push(Batch::default()));
    }
}
