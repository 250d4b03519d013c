//! Differential scripts: the same bytes sent to nats-server and to the target, the replies
//! compared after normalising what legitimately differs (ids, versions, ports).

use super::raw::RawClient;
use super::{Target, TestServer};
use std::time::Duration;

/// One step of a script. Connections are numbered from 0 and opened on first use (the INFO
/// line they receive is part of their transcript).
#[derive(Clone, Debug)]
pub enum Step {
    /// Write these bytes in one write.
    Send(usize, Vec<u8>),
    /// Write these bytes one byte per write, 1 ms apart (forces split reads on the server).
    Bytewise(usize, Vec<u8>),
    /// Write the bytes in two writes split at `at`, 5 ms apart.
    Split(usize, Vec<u8>, usize),
    /// Send PING and record everything up to its PONG (or the close, if it closes instead).
    Sync(usize),
    /// Record everything until the server closes the connection (bounded by 3 s).
    ExpectClose(usize),
    /// Record whatever arrives within this many milliseconds.
    Quiet(usize, u64),
    /// Sleep without reading.
    Sleep(u64),
}

/// A named script with an optional config file for the server.
#[derive(Clone, Debug)]
pub struct Script {
    pub name: String,
    pub conf: Option<String>,
    pub steps: Vec<Step>,
}

impl Script {
    pub fn new(name: &str) -> Script {
        Script { name: name.to_string(), conf: None, steps: Vec::new() }
    }
    pub fn conf(mut self, conf: &str) -> Script {
        self.conf = Some(conf.to_string());
        self
    }
    /// Send on connection `c`.
    pub fn send(mut self, c: usize, bytes: &str) -> Script {
        self.steps.push(Step::Send(c, bytes.as_bytes().to_vec()));
        self
    }
    pub fn send_bytes(mut self, c: usize, bytes: &[u8]) -> Script {
        self.steps.push(Step::Send(c, bytes.to_vec()));
        self
    }
    pub fn bytewise(mut self, c: usize, bytes: &str) -> Script {
        self.steps.push(Step::Bytewise(c, bytes.as_bytes().to_vec()));
        self
    }
    pub fn split(mut self, c: usize, bytes: &str, at: usize) -> Script {
        self.steps.push(Step::Split(c, bytes.as_bytes().to_vec(), at));
        self
    }
    pub fn sync(mut self, c: usize) -> Script {
        self.steps.push(Step::Sync(c));
        self
    }
    pub fn close(mut self, c: usize) -> Script {
        self.steps.push(Step::ExpectClose(c));
        self
    }
    pub fn quiet(mut self, c: usize, ms: u64) -> Script {
        self.steps.push(Step::Quiet(c, ms));
        self
    }
    pub fn sleep(mut self, ms: u64) -> Script {
        self.steps.push(Step::Sleep(ms));
        self
    }
}

struct Conn {
    client: RawClient,
    transcript: Vec<u8>,
    done: bool,
}

/// Runs `script` against a fresh server of kind `t`; returns one normalised transcript per
/// connection (`== conn N ==` headers, `<closed>` markers).
pub fn run(script: &Script, t: Target) -> String {
    let server = TestServer::start_on(t, script.conf.as_deref(), &[]);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let open = |conns: &mut Vec<Option<Conn>>, c: usize| {
        while conns.len() <= c {
            conns.push(None);
        }
        if conns[c].is_none() {
            let mut client = RawClient::connect_no_info(server.port);
            let info = client.read_line(Duration::from_secs(5)).unwrap_or_default();
            conns[c] = Some(Conn { client, transcript: info, done: false });
        }
    };
    for step in &script.steps {
        match step {
            Step::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Step::Send(c, b) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                if !conn.client.try_send(b) {
                    conn.transcript.extend_from_slice(b"<write failed>\n");
                }
            }
            Step::Bytewise(c, b) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                for byte in b {
                    if !conn.client.try_send(std::slice::from_ref(byte)) {
                        conn.transcript.extend_from_slice(b"<write failed>\n");
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Step::Split(c, b, at) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                let at = (*at).min(b.len());
                let ok = conn.client.try_send(&b[..at]) && {
                    std::thread::sleep(Duration::from_millis(5));
                    conn.client.try_send(&b[at..])
                };
                if !ok {
                    conn.transcript.extend_from_slice(b"<write failed>\n");
                }
            }
            Step::Sync(c) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                sync_into(conn);
            }
            Step::ExpectClose(c) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                let (got, closed) = conn.client.read_until_closed(Duration::from_secs(3));
                conn.transcript.extend_from_slice(&got);
                conn.transcript
                    .extend_from_slice(if closed { b"<closed>\n" } else { b"<still open after 3s>\n" });
                conn.done = true;
            }
            Step::Quiet(c, ms) => {
                open(&mut conns, *c);
                let conn = conns[*c].as_mut().unwrap();
                let got = conn.client.read_available(Duration::from_millis(*ms));
                conn.transcript.extend_from_slice(&got);
                if conn.client.is_closed() {
                    conn.transcript.extend_from_slice(b"<closed>\n");
                    conn.done = true;
                }
            }
        }
    }
    // Flush what is still pending on every open connection.
    for conn in conns.iter_mut().flatten() {
        if !conn.done {
            sync_into(conn);
        }
    }
    let mut out = String::new();
    for (i, conn) in conns.iter().enumerate() {
        if let Some(conn) = conn {
            out.push_str(&format!("== conn {i} ==\n"));
            out.push_str(&normalize(&conn.transcript));
        }
    }
    out
}

fn sync_into(conn: &mut Conn) {
    if conn.done {
        return;
    }
    if !conn.client.try_send(b"PING\r\n") {
        conn.transcript.extend_from_slice(b"<write failed>\n");
        conn.done = true;
        return;
    }
    match conn.client.read_until(b"PONG\r\n", Duration::from_secs(3)) {
        Some(got) => conn.transcript.extend_from_slice(&got),
        None => {
            let (got, closed) = conn.client.read_until_closed(Duration::from_millis(500));
            conn.transcript.extend_from_slice(&got);
            conn.transcript
                .extend_from_slice(if closed { b"<closed>\n" } else { b"<no PONG>\n" });
            conn.done = true;
        }
    }
}

/// Keys of INFO whose values differ between servers and runs.
const INFO_VOLATILE: &[&str] =
    &["server_id", "server_name", "version", "go", "port", "client_id", "nonce", "git_commit"];

/// Normalises a transcript: in INFO lines the volatile values become `*`; `_INBOX.<id>`
/// tokens become `_INBOX.*`. Non-UTF-8 bytes are shown escaped.
pub fn normalize(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let line = if line.starts_with("INFO ") { normalize_info(line) } else { line.to_string() };
        out.push_str(&normalize_inbox(&line));
    }
    out
}

fn normalize_info(line: &str) -> String {
    let mut s = line.to_string();
    for key in INFO_VOLATILE {
        let pat = format!("\"{key}\":");
        if let Some(i) = s.find(&pat) {
            let vstart = i + pat.len();
            let rest = &s[vstart..];
            let vlen = if let Some(r) = rest.strip_prefix('"') {
                // A string value: up to the closing unescaped quote.
                let mut end = None;
                let mut esc = false;
                for (j, ch) in r.char_indices() {
                    if esc {
                        esc = false;
                    } else if ch == '\\' {
                        esc = true;
                    } else if ch == '"' {
                        end = Some(j);
                        break;
                    }
                }
                end.map(|j| j + 2).unwrap_or(rest.len())
            } else {
                rest.find([',', '}']).unwrap_or(rest.len())
            };
            s.replace_range(vstart..vstart + vlen, "\"*\"");
        }
    }
    s
}

fn normalize_inbox(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("_INBOX.") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let n = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
        if n > 0 {
            out.push('*');
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// Runs every script against nats-server (the oracle) and against `subject`, in parallel
/// (bounded), and returns a report of the scripts whose transcripts differ.
pub fn compare_all(scripts: &[Script], subject: Target) -> Vec<String> {
    let threads = 4;
    let chunks: Vec<Vec<Script>> = (0..threads)
        .map(|k| scripts.iter().skip(k).step_by(threads).cloned().collect())
        .collect();
    let handles: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            std::thread::spawn(move || {
                let mut diffs = Vec::new();
                for script in &chunk {
                    let want = run(script, Target::NatsServer);
                    let got = run(script, subject);
                    if want != got {
                        diffs.push(format!(
                            "--- script `{}`\nnats-server:\n{}\n{:?}:\n{}\n",
                            script.name, want, subject, got
                        ));
                    }
                }
                diffs
            })
        })
        .collect();
    handles.into_iter().flat_map(|h| h.join().expect("differential worker panicked")).collect()
}
