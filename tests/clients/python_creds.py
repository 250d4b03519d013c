"""nats-py with a .creds file (operator mode): connect, publish, receive; then a creds
file the server does not accept must fail. Usage: python_creds.py PORT GOOD.creds BAD.creds"""
import asyncio
import sys

import nats


async def main(port, good, bad):
    url = f"nats://127.0.0.1:{port}"
    nc = await nats.connect(url, user_credentials=good, connect_timeout=5, allow_reconnect=False)
    sub = await nc.subscribe("py.>")
    await nc.publish("py.x", b"hi")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"hi", msg.data
    await nc.close()
    try:
        nc = await nats.connect(url, user_credentials=bad, connect_timeout=2, allow_reconnect=False, max_reconnect_attempts=0)
    except Exception as e:  # refused: Authorization Violation
        print("refused:", type(e).__name__, e)
        return
    await nc.close()
    raise SystemExit("the bad creds file was accepted")


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
