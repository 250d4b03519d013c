"""nats-py (the official Python client) against a server: pub/sub, queue groups,
request/reply, no responders, headers. Usage: python_smoke.py <port>. Exit 0 = pass."""
import asyncio
import sys

import nats
from nats.errors import NoRespondersError


async def main(port: int) -> None:
    nc = await nats.connect(f"nats://127.0.0.1:{port}", connect_timeout=5)
    got = []

    async def collect(msg):
        got.append((msg.subject, msg.data, msg.headers))

    await nc.subscribe("py.*", cb=collect)
    q_counts = [0, 0]

    def member(i):
        async def cb(msg):
            q_counts[i] += 1
        return cb

    await nc.subscribe("py.q", queue="g", cb=member(0))
    await nc.subscribe("py.q", queue="g", cb=member(1))

    async def responder(msg):
        await msg.respond(b"pong:" + msg.data)

    await nc.subscribe("py.svc", cb=responder)
    await nc.flush()

    for i in range(200):
        await nc.publish("py.q", b"%d" % i)
    await nc.publish("py.h", b"with headers", headers={"X-Test": "1"})
    reply = await nc.request("py.svc", b"ping", timeout=2)
    assert reply.data == b"pong:ping", reply.data
    try:
        await nc.request("py.nobody.home", b"x", timeout=2)
        raise AssertionError("expected no responders")
    except NoRespondersError:
        pass
    await nc.flush()
    for _ in range(100):
        if sum(q_counts) == 200 and any(s == "py.h" for s, _, _ in got):
            break
        await asyncio.sleep(0.02)
    assert sum(q_counts) == 200, q_counts
    assert min(q_counts) > 0, q_counts
    h = [x for x in got if x[0] == "py.h"]
    assert h and h[0][2] == {"X-Test": "1"}, h
    await nc.drain()
    print("python client OK")


asyncio.run(main(int(sys.argv[1])))
