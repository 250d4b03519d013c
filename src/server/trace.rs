//! `-V` protocol trace in nats-server's format (`<<- [SUB foo 1]`, `->> [MSG foo 1 5]`).
//! Only reached when tracing is on (one cached flag per op otherwise). Secrets in CONNECT
//! (`pass`, `auth_token`, `sig`, `jwt`) are always redacted — nats-server 2.9.10 redacts
//! only `pass` and prints tokens.
use super::core::Core;
use crate::proto::Frame;

const REDACTED: &str = "[REDACTED]";
const SECRET_KEYS: [&str; 4] = ["pass", "auth_token", "sig", "jwt"];

/// CONNECT JSON with secret values replaced; unparsable JSON is not shown at all.
pub fn redact_connect(json: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in SECRET_KEYS {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String(REDACTED.into());
                }
            }
            serde_json::Value::Object(map).to_string()
        }
        _ => format!("<{} bytes of invalid JSON, not shown>", json.len()),
    }
}

fn s(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl Core {
    fn trace_prefix(&self, slot: u32) -> String {
        self.conn(slot).map_or_else(String::new, |c| format!("{} - cid:{}", c.addr, c.cid))
    }

    /// Traces one client op as received.
    pub(super) fn trace_in(&self, slot: u32, frame: &Frame<'_>) {
        let who = self.trace_prefix(slot);
        match frame {
            Frame::Connect(json) => crate::trace!("{who} - <<- [CONNECT {}]", redact_connect(json)),
            Frame::Info(_) => crate::trace!("{who} - <<- [INFO]"),
            Frame::Pub(m) => {
                let reply = m.reply.map(|r| format!(" {}", s(r))).unwrap_or_default();
                match m.headers {
                    Some(h) => crate::trace!(
                        "{who} - <<- [HPUB {}{reply} {} {}]",
                        s(m.subject),
                        h.len(),
                        h.len() + m.payload.len()
                    ),
                    None => crate::trace!("{who} - <<- [PUB {}{reply} {}]", s(m.subject), m.payload.len()),
                }
                crate::trace!("{who} - <<- MSG_PAYLOAD: [{:?}]", s(m.payload));
            }
            Frame::Sub { subject, queue, sid } => {
                let q = queue.map(|q| format!(" {}", s(q))).unwrap_or_default();
                crate::trace!("{who} - <<- [SUB {}{q} {}]", s(subject), s(sid));
            }
            Frame::Unsub { sid, max } => {
                let m = max.map(|m| format!(" {}", s(m))).unwrap_or_default();
                crate::trace!("{who} - <<- [UNSUB {}{m}]", s(sid));
            }
            Frame::Ping => crate::trace!("{who} - <<- [PING]"),
            Frame::Pong => crate::trace!("{who} - <<- [PONG]"),
            Frame::Ok => crate::trace!("{who} - <<- [OK]"),
            Frame::Err(text) => crate::trace!("{who} - <<- [-ERR {}]", s(text)),
        }
    }

    /// Traces one line sent to a client (`MSG` lines without their payload).
    pub(super) fn trace_out(&self, slot: u32, line: std::fmt::Arguments<'_>) {
        crate::trace!("{} - ->> [{line}]", self.trace_prefix(slot));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let out = redact_connect(br#"{"user":"u","pass":"pw1","auth_token":"tok2","sig":"s3","jwt":"j4","name":"n"}"#);
        for secret in ["pw1", "tok2", "s3", "j4"] {
            assert!(!out.contains(secret), "{out}");
        }
        assert!(out.contains(r#""user":"u""#) && out.contains(r#""name":"n""#), "{out}");
        assert!(!redact_connect(br#"{"pass":"pw1""#).contains("pw1"));
    }
}
