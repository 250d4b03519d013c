//! Differential tests: one corpus of byte scripts, run against nats-server 2.9.10 (the
//! oracle) and against the target; the transcripts must be identical after normalising
//! ids, versions and ports.
mod common;

use common::diff::{compare_all, Script};
use common::{skip_without_nats_server, target};

const Q: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
const QH: &str = "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n";

fn protocol_scripts() -> Vec<Script> {
    vec![
        Script::new("ping before connect").send(0, "PING\r\n").sync(0),
        Script::new("verbose defaults").send(0, "CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nUNSUB 9\r\n").sync(0),
        Script::new("no connect at all").send(0, "SUB foo 1\r\nPUB foo 1\r\nx\r\n").sync(0),
        Script::new("quiet pub sub").send(0, Q).send(0, "SUB foo 1\r\nPUB foo bar 5\r\nhello\r\n").sync(0),
        Script::new("op names any case").send(0, Q).send(0, "sub foo 1\r\npub foo 1\r\na\r\nPuB foo 1\r\nb\r\nping\r\n").sync(0),
        Script::new("bare LF and tabs").send(0, Q).send(0, "SUB\tfoo\t\t1\nPUB  foo   3\nabc\r\nPING\n").sync(0),
        Script::new("PINGX and PONG junk").send(0, Q).send(0, "PINGX\r\nPONG whatever\r\n+OK junk\r\n").sync(0),
        Script::new("payload with CRLF").send(0, Q).send(0, "SUB a 1\r\nPUB a 6\r\na\r\nb\r\n\r\n").sync(0),
        Script::new("zero payload").send(0, Q).send(0, "SUB a 1\r\nPUB a 0\r\n\r\n").sync(0),
        // One subscription per connection: the order across subscriptions is unspecified.
        Script::new("wildcards")
            .send(0, Q).send(0, "SUB a.* 1\r\n").sync(0)
            .send(1, Q).send(1, "SUB a.> 2\r\n").sync(1)
            .send(2, Q).send(2, "SUB > 3\r\n").sync(2)
            .send(3, Q).send(3, "SUB *.b 4\r\n").sync(3)
            .send(4, Q).send(4, "PUB a.b 1\r\nx\r\nPUB a.b.c 1\r\ny\r\nPUB q 1\r\nz\r\n").sync(4)
            .sync(0).sync(1).sync(2).sync(3),
        Script::new("literal star tokens").send(0, Q).send(0, "SUB a*.b 1\r\nPUB a*.b 1\r\nx\r\nPUB ax.b 1\r\ny\r\n").sync(0),
        Script::new("wildcard in published subject").send(0, Q)
            .send(0, "SUB foo.* 1\r\nSUB foo.bar 2\r\nSUB foo.> 3\r\nPUB foo.* 1\r\nx\r\n").sync(0),
        Script::new("empty token publish dropped").send(0, Q).send(0, "SUB > 1\r\nPUB a..b 1\r\nx\r\nPUB .a 1\r\ny\r\n").sync(0),
        Script::new("msg carries published subject").send(0, Q).send(0, "SUB foo.* 1\r\nPUB foo.bar r 1\r\nx\r\n").sync(0),
        Script::new("duplicate sid ignored").send(0, Q).send(0, "SUB a 1\r\nSUB b 1\r\nPUB a 1\r\nx\r\nPUB b 1\r\ny\r\n").sync(0),
        Script::new("duplicate sid verbose").send(0, "CONNECT {\"verbose\":true}\r\nSUB a 1\r\nSUB b 1\r\n").sync(0),
        Script::new("unsub max").send(0, Q).send(0, "SUB a 1\r\nUNSUB 1 2\r\n")
            .send(0, "PUB a 1\r\n1\r\nPUB a 1\r\n2\r\nPUB a 1\r\n3\r\n").sync(0),
        Script::new("unsub max below delivered").send(0, Q).send(0, "SUB a 1\r\nPUB a 1\r\n1\r\nPUB a 1\r\n2\r\n")
            .sync(0).send(0, "UNSUB 1 1\r\nPUB a 1\r\n3\r\n").sync(0),
        Script::new("unsub max not a number").send(0, Q).send(0, "SUB a 1\r\nUNSUB 1 x\r\nPUB a 1\r\n1\r\n").sync(0),
        Script::new("queue group one member").send(0, Q).send(0, "SUB q g 1\r\nSUB q g 2\r\nSUB q 3\r\n")
            .send(0, "UNSUB 2\r\nPUB q 1\r\nx\r\n").sync(0),
        Script::new("echo off").send(0, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB a 1\r\nPUB a 1\r\nx\r\n").sync(0)
            .send(1, Q).send(1, "PUB a 1\r\ny\r\n").sync(1).sync(0),
        Script::new("two connections").send(0, Q).send(0, "SUB chat 1\r\n").sync(0)
            .send(1, Q).send(1, "PUB chat 5\r\nhello\r\n").sync(1).sync(0),
        Script::new("hpub to headers client").send(0, QH).send(0, "SUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n").sync(0),
        Script::new("hpub stripped for plain client").send(0, Q).send(0, "SUB h 1\r\n").sync(0)
            .send(1, QH).send(1, "HPUB h 22 24\r\nNATS/1.0\r\nA: B\r\n\r\n\r\nhi\r\n").sync(1).sync(0),
        Script::new("hpub zero header").send(0, QH).send(0, "SUB h 1\r\nHPUB h 0 2\r\nhi\r\n").sync(0),
        Script::new("no responders 503").send(0, QH).send(0, "SUB r.> 9\r\nPUB nobody r.1 0\r\n\r\n").sync(0),
        Script::new("no responders needs own sub").send(0, QH).send(0, "PUB nobody r.1 0\r\n\r\n").sync(0),
        Script::new("no responders queue sub").send(0, QH).send(0, "SUB r.1 q 9\r\nPUB nobody r.1 0\r\n\r\n").sync(0),
        Script::new("second connect reapplies").send(0, Q).send(0, "CONNECT {\"verbose\":true}\r\nSUB a 1\r\n").sync(0),
        Script::new("client info ignored").send(0, Q).send(0, "INFO {\"server_id\":\"x\"}\r\n").sync(0),
        Script::new("connect without space").send(0, "CONNECT{\"verbose\":false}\r\nPING\r\n").sync(0),
        Script::new("pedantic bad publish subject").send(0, "CONNECT {\"verbose\":false,\"pedantic\":true}\r\nSUB > 1\r\nPUB a.* 1\r\nx\r\n").sync(0),
        Script::new("reserved reply").send(0, Q).send(0, "SUB > 1\r\nPUB a _R_.x 1\r\nx\r\nPUB b $JS.ACK.x 1\r\ny\r\n").sync(0),
        Script::new("split at every byte").send(0, QH).bytewise(0, "SUB a 1\r\nPUB a r 5\r\nhello\r\nHPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n").sync(0),
        Script::new("split mid payload").send(0, Q).split(0, "SUB a 1\r\nPUB a 10\r\n0123456789\r\n", 15).sync(0),
    ]
}

fn error_scripts() -> Vec<Script> {
    vec![
        Script::new("unknown op").send(0, Q).send(0, "FOO bar\r\n").close(0),
        Script::new("client MSG").send(0, Q).send(0, "MSG a 1 1\r\nx\r\n").close(0),
        Script::new("payload not followed by CRLF").send(0, Q).send(0, "PUB a 3\r\nabcdef\r\n").close(0),
        Script::new("bad arg count pub").send(0, Q).send(0, "PUB a b c 1\r\nx\r\n").close(0),
        Script::new("bad arg count sub").send(0, Q).send(0, "SUB a b c d\r\n").close(0),
        Script::new("bad size").send(0, Q).send(0, "PUB a x\r\n").close(0),
        Script::new("negative size").send(0, Q).send(0, "PUB a -1\r\n").close(0),
        Script::new("invalid subject stays open").send(0, Q)
            .send(0, "SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB foo. 3\r\nSUB >.a 4\r\n").sync(0),
        Script::new("invalid subject verbose").send(0, "CONNECT {}\r\nSUB a..b 1\r\n").sync(0),
        Script::new("max payload").conf("max_payload: 16\n").send(0, Q).send(0, "PUB a 17\r\n").close(0),
        Script::new("max payload hpub").conf("max_payload: 16\n").send(0, QH).send(0, "HPUB a 10 17\r\n").close(0),
        Script::new("max control line").conf("max_control_line: 32\n").send(0, Q)
            .send(0, "SUB 0123456789012345678901234567890123456789 1\r\n").close(0),
        Script::new("max control line partial").conf("max_control_line: 32\n").send(0, Q)
            .send(0, "SUB 0123456789012345678901234567890123456789").close(0),
        Script::new("max control line exact fits").conf("max_control_line: 32\n").send(0, Q)
            .send(0, "SUB 012345678901234567890123456 1\r\n").sync(0),
        Script::new("hpub without headers").send(0, Q).send(0, "HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n").close(0),
        Script::new("hpub hdr over total").send(0, QH).send(0, "HPUB a 14 12\r\n").close(0),
        Script::new("bad connect json").send(0, "CONNECT {nope\r\n").close(0),
        Script::new("connect wrong type").send(0, "CONNECT {\"verbose\":\"yes\"}\r\n").close(0),
        Script::new("invalid protocol").send(0, "CONNECT {\"protocol\":2}\r\n").close(0),
        Script::new("no responders without headers").send(0, "CONNECT {\"no_responders\":true}\r\n").close(0),
        Script::new("account in connect").send(0, "CONNECT {\"account\":\"A\"}\r\n").close(0),
        Script::new("client -ERR closes").send(0, Q).send(0, "-ERR 'x'\r\n").close(0),
        Script::new("max connections").conf("max_connections: 1\n").send(0, Q).sync(0).send(1, "PING\r\n").close(1).sync(0),
        Script::new("max subscriptions").conf("max_subscriptions: 2\n").send(0, Q)
            .send(0, "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB c 1\r\nx\r\nPUB a 1\r\ny\r\n").sync(0),
        Script::new("garbage then others fine").send(0, "\x00\x01\x02garbage\r\n").close(0)
            .send(1, Q).send(1, "SUB a 1\r\nPUB a 1\r\nx\r\n").sync(1),
    ]
}

#[test]
fn protocol_matches_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let diffs = compare_all(&protocol_scripts(), target());
    assert!(diffs.is_empty(), "{} scripts differ:\n{}", diffs.len(), diffs.join("\n"));
}

#[test]
fn errors_match_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    let diffs = compare_all(&error_scripts(), target());
    assert!(diffs.is_empty(), "{} scripts differ:\n{}", diffs.len(), diffs.join("\n"));
}
