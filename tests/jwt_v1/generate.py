#!/usr/bin/env python3
"""Writes the v1-format JWT fixtures in this folder (natrix's own keys).

nats-io/jwt v1 tokens, as the older `nsc` and the NATS Python client's test suite use
them: header `{"typ":"jwt","alg":"ed25519"}`, the claim type at the top level, and the
signature over the encoded claims part only. An operator `test_operator`, accounts `foo`
and `bar` without limits, and one user of each with empty permissions.

Run once (needs `pip install nkeys`); the output is committed, so tests need no Python.
"""
import base64, hashlib, json, os
import nkeys

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def keypair(prefix):
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    return nkeys.from_seed(bytearray(seed)), seed.decode()

def token(claims, signer):
    claims = dict(claims, iss=signer.public_key.decode())
    # v1's jti: base32 of the SHA-256 of the claims without it.
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims).encode()).digest()).decode().rstrip("=")
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = signer.sign(body.encode())
    return f'{b64(json.dumps({"typ":"jwt","alg":"ed25519"}, separators=(",", ":")).encode())}.{body}.{b64(sig)}'

def creds(jwt, seed):
    return (f"-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n"
            "************************* IMPORTANT *************************\n"
            "NKEY Seed printed below can be used to sign and prove identity.\n"
            "NKEYs are sensitive and should be treated as secrets.\n\n"
            f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n"
            "*************************************************************\n")

op, _ = keypair(nkeys.PREFIX_BYTE_OPERATOR)
opk = op.public_key.decode()
with open("op.jwt", "w") as f:
    jwt = token({"iat": 1553840337, "name": "test_operator", "sub": opk, "type": "operator"}, op)
    f.write(f"-----BEGIN TEST OPERATOR JWT-----\n{jwt}\n------END TEST OPERATOR JWT------\n")
unlimited = {"subs": -1, "conn": -1, "imports": -1, "exports": -1, "data": -1, "payload": -1, "wildcards": True}
for name in ("foo", "bar"):
    acc, _ = keypair(nkeys.PREFIX_BYTE_ACCOUNT)
    akey = acc.public_key.decode()
    with open(f"{name}-account.jwt", "w") as f:
        f.write(token({"iat": 1553840615, "name": name, "sub": akey, "type": "account", "nats": {"limits": unlimited}}, op) + "\n")
    user, useed = keypair(nkeys.PREFIX_BYTE_USER)
    ujwt = token({"iat": 1553840944, "name": f"{name}-user", "sub": user.public_key.decode(), "type": "user",
                  "nats": {"pub": {}, "sub": {}}}, acc)
    with open(f"{name}-user.creds", "w") as f:
        f.write(creds(ujwt, useed))
    print(name, akey)
