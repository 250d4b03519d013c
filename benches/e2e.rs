//! End-to-end loopback: an in-process server, one publisher and one subscriber on real
//! sockets; each iteration publishes a batch and waits until the subscriber has it all.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const BATCH: usize = 10_000;

fn connect(port: u16, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(format!("CONNECT {{\"verbose\":false,\"pedantic\":false}}\r\n{extra}PING\r\n").as_bytes())
        .expect("connect");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"PONG\r\n") {
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "server closed");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

fn e2e(c: &mut Criterion) {
    let opts = natrix::config::Options { host: "127.0.0.1".into(), port: -1, workers: 2, ..Default::default() };
    let server = natrix::server::start(opts).expect("start");
    let port = server.addr.port();
    let mut group = c.benchmark_group("e2e_pub_sub");
    for size in [16usize, 128, 1024] {
        let mut sub = connect(port, "SUB bench 1\r\n");
        let mut publ = connect(port, "");
        let frame = format!("PUB bench {size}\r\n{}\r\n", "x".repeat(size));
        let batch = frame.repeat(BATCH).into_bytes();
        let expect = (format!("MSG bench 1 {size}\r\n").len() + size + 2) * BATCH;
        let mut buf = vec![0u8; 256 * 1024];
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                publ.write_all(&batch).expect("publish");
                let mut left = expect;
                while left > 0 {
                    let n = sub.read(&mut buf[..left.min(256 * 1024)]).expect("read");
                    assert!(n > 0, "server closed");
                    left -= n;
                }
            })
        });
    }
    group.finish();
    server.shutdown();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = e2e
}
criterion_main!(benches);
