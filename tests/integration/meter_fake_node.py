#!/usr/bin/env python3
"""meter_fake_node.py -- a fake gridnode JSON-RPC server for gridmeter's RPC sink tests.

The Python standard library, plus python3-cryptography for Ed25519.  It
speaks the methods gridmeter uses (submit_tx, get_tx, get_account, get_state,
get_header) in gridnode's shapes (rpc/README.md), commits each accepted
reading in a block of its own, keeps a compressed sparse Merkle tree over the
state written the way chain/chain_proof.h describes (BLAKE2b-256 with one-byte
domain tags, a lone leaf lifted to the top of its subtree), serves membership
and non-membership proofs as gl.StateProof bytes, and certifies every header
as a Raft network of --validators would: a commit certificate signed by a
majority of validators whose keys derive from fixed seeds, written as a
genesis.json by --genesis FILE (what gridmeter trusts with verify_proof).

Fault modes (for the tests): --fail-submits N (first N submit_tx answer HTTP 500),
--pending N (get_tx says pending N times per tx before the height), --bad-proof
(a proof whose sibling is flipped), --wrong-value (get_state returns other bytes),
--refuse-readings (a reading commits -- its nonce is used -- but its execution
fails, so the state never holds it, as a chain refusing an unregistered meter),
--garbage (every answer is not JSON), --slow-ms N (sleep before every answer),
--cert MODE for the header's certificate: good (default), none (not yet
certified: null), bad-sig (one signature byte flipped), too-few (one
signature short of a quorum), foreign (signed by keys not in genesis),
other-chain (the header names another chain id).

--state FILE makes it a node that survives being killed: every committed
envelope is appended to FILE (one hex line, fsync'd before the answer) and
replayed on start.  A second, different reading for a (meter, slot) that
already has one is refused (READING_CONFLICTS) and appended to FILE.conflicts.

Prints `port N` on its first line (port 0 asks the OS for a free loopback port)."""
import argparse
import hashlib
import http.server
import json
import os
import sys
import time

TAG_TX, TAG_HEADER, TAG_LEAF, TAG_INNER, TAG_VOTE, TAG_KEY, TAG_VALUE, TAG_VALSET = (
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09)
ZERO = bytes(32)


def ed25519_keys(prefix, n):
    """n Ed25519 keys from fixed seeds (so a restarted node has the same genesis)."""
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives import serialization
    except ImportError:
        sys.exit("meter_fake_node.py: needs python3-cryptography (Ed25519) for certificates")
    keys = []
    for i in range(n):
        seed = hashlib.blake2b(("%s-%d" % (prefix, i)).encode(), digest_size=32).digest()
        sk = Ed25519PrivateKey.from_private_bytes(seed)
        pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        keys.append((sk, pk))
    return keys


def H(tag, *parts):
    h = hashlib.blake2b(digest_size=32)
    h.update(bytes([tag]))
    for p in parts:
        h.update(p)
    return h.digest()


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def fields(b):
    """protobuf fields of a message: {number: [values]} (varints as int, bytes as bytes)."""
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 2:
            n, i = read_varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type")
        out.setdefault(num, []).append(v)
    return out


def fbytes(num, v):
    return varint(num << 3 | 2) + varint(len(v)) + v if v else b""


def fuint(num, v):
    return varint(num << 3) + varint(v) if v else b""


def bit(path, i):
    return (path[i >> 3] >> (7 - (i & 7))) & 1


def root_of(items, depth):
    """items: list of (key_hash, value_hash)."""
    if not items:
        return ZERO
    if len(items) == 1:
        return H(TAG_LEAF, items[0][0], items[0][1])
    left = [x for x in items if bit(x[0], depth) == 0]
    right = [x for x in items if bit(x[0], depth) == 1]
    return H(TAG_INNER, root_of(left, depth + 1), root_of(right, depth + 1))


def prove(items, kh):
    """gl.StateProof for key hash kh: membership when kh is a leaf, else
    non-membership ending in an empty subtree or in another key's leaf."""
    siblings, depth, cur = [], 0, items
    while len(cur) > 1:
        mine = [x for x in cur if bit(x[0], depth) == bit(kh, depth)]
        other = [x for x in cur if bit(x[0], depth) != bit(kh, depth)]
        siblings.append(root_of(other, depth + 1))
        cur, depth = mine, depth + 1
    present = bytearray((depth + 7) // 8)
    sent = []
    for i, s in enumerate(siblings):
        if s != ZERO:
            present[i >> 3] |= 1 << (i & 7)
            sent.append(s)
    msg = fuint(1, depth) + fbytes(2, bytes(present))
    for s in sent:
        msg += varint(3 << 3 | 2) + varint(32) + s
    if len(cur) == 1 and cur[0][0] != kh:   # another key's leaf where ours would be
        msg += fbytes(4, cur[0][0]) + fbytes(5, cur[0][1])
    return msg


class Node:
    def __init__(self, args):
        self.args = args
        self.validators = ed25519_keys("meter-fake-validator", args.validators)
        vs = b"".join(fbytes(1, fbytes(1, pk) + fuint(2, 1)) for _, pk in self.validators)
        self.valset_hash = H(TAG_VALSET, vs)
        if args.genesis:
            g = {"chain_id": args.chain_id, "engine": "raft", "time_ms": 0,
                 "validators": [{"key": pk.hex(), "power": 1} for _, pk in self.validators],
                 "accounts": []}
            with open(args.genesis + ".tmp", "w") as f:
                json.dump(g, f)
            os.replace(args.genesis + ".tmp", args.genesis)
        self.height = 0
        self.state = {}          # key -> value
        self.snapshots = {}      # height -> dict copy
        self.headers = {}        # height -> header bytes
        self.txs = {}            # hash -> height
        self.nonces = {}         # pk -> next nonce
        self.pending_left = {}
        self.submits = 0

    def commit(self, key, value):
        self.height += 1
        if key is not None:
            self.state[key] = value
        snap = dict(self.state)
        self.snapshots[self.height] = snap
        items = [(H(TAG_KEY, k), H(TAG_VALUE, v)) for k, v in snap.items()]
        root = root_of(items, 0)
        chain_id = "other-chain" if self.args.cert == "other-chain" else self.args.chain_id
        self.headers[self.height] = (fuint(1, self.height) + fuint(3, 1767225600000 + self.height)
                                     + fbytes(6, root) + fbytes(7, self.valset_hash)
                                     + fbytes(8, chain_id.encode()))

    def cert(self, height, hhash):
        """The commit certificate of a header: a Raft majority of the validators."""
        mode = self.args.cert
        if mode == "none":
            return None
        n = len(self.validators)
        quorum = n // 2 + 1
        signers = range(quorum - 1 if mode == "too-few" else quorum)
        msg = bytes([TAG_VOTE]) + b"gridledger-vote\0" + height.to_bytes(8, "big") + hhash
        keys = ed25519_keys("not-a-validator", n) if mode == "foreign" else self.validators
        sigs = []
        for i in signers:
            sig = bytearray(keys[i][0].sign(msg))
            if mode == "bad-sig" and i == 0:
                sig[5] ^= 1
            sigs.append({"signer": i, "sig": bytes(sig).hex()})
        return {"height": height, "hash": hhash.hex(), "sigs": sigs}

    def replay(self):
        if not self.args.state or not os.path.exists(self.args.state):
            return
        for line in open(self.args.state):
            line = line.strip()
            if len(line) % 2 == 0 and line:
                self.call("submit_tx", {"tx": line}, replay=True)

    def call(self, method, p, replay=False):
        if method == "submit_tx":
            self.submits += 1
            if not replay and self.submits <= self.args.fail_submits:
                raise HttpError(500)
            tx = bytes.fromhex(p["tx"])
            env = fields(tx)
            body = fields(env[1][0])
            signer = env[2][0]
            nonce = body.get(2, [0])[0]
            payload = body[4][0]
            h = H(TAG_TX, tx).hex()
            if h in self.txs:
                return None, (-32001, "DUPLICATE")
            if body.get(3, [0])[0] != 120:
                return None, (-32001, "DECODE_UNKNOWN_TYPE")
            if nonce != self.nonces.get(signer, 0):
                return None, (-32001, "BAD_NONCE")
            r = fields(payload)
            slot = r.get(2, [0])[0]
            key = b"meter/" + signer + slot.to_bytes(8, "big")
            if key in self.state:
                if self.args.state and not replay:
                    with open(self.args.state + ".conflicts", "a") as f:
                        f.write(tx.hex() + "\n")
                return None, (-32001, "READING_CONFLICTS")
            if self.args.state and not replay:
                with open(self.args.state, "a") as f:
                    f.write(tx.hex() + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            self.nonces[signer] = nonce + 1
            if self.args.refuse_readings:
                self.commit(None, None)
                self.txs[h] = self.height
                self.pending_left[h] = 0
                return {"hash": h}, None
            self.commit(key, payload)
            self.txs[h] = self.height
            self.pending_left[h] = self.args.pending
            return {"hash": h}, None
        if method == "get_tx":
            h = p["hash"]
            if h not in self.txs:
                return None, (-32002, "NOT_FOUND")
            if self.pending_left.get(h, 0) > 0:
                self.pending_left[h] -= 1
                return {"height": None, "status": "pending"}, None
            return {"height": self.txs[h], "result": 0}, None
        if method == "get_account":
            pk = bytes.fromhex(p["account"])
            if pk not in self.nonces:
                return None, (-32002, "NOT_FOUND")
            return {"nonce": self.nonces[pk], "balance": 0}, None
        if method == "get_state":
            key = bytes.fromhex(p["key"])
            snap = self.snapshots.get(p["height"])
            if snap is None:
                return None, (-32002, "NOT_FOUND")
            items = [(H(TAG_KEY, k), H(TAG_VALUE, v)) for k, v in snap.items()]
            proof = bytearray(prove(items, H(TAG_KEY, key)))
            if key not in snap:   # absent: value null with a non-membership proof
                return {"key": key.hex(), "height": p["height"], "value": None,
                        "proof": bytes(proof).hex()}, None
            value = snap[key]
            if self.args.bad_proof and len(proof) >= 34:  # at least one sibling: flip its last byte
                proof[-1] ^= 1
            if self.args.wrong_value:
                value = value[:-1] + bytes([value[-1] ^ 1])
            return {"key": key.hex(), "height": p["height"], "value": value.hex(),
                    "proof": bytes(proof).hex()}, None
        if method == "get_header":
            hdr = self.headers.get(p["height"])
            if hdr is None:
                return None, (-32002, "NOT_FOUND")
            hhash = H(TAG_HEADER, hdr)
            return {"height": p["height"], "hash": hhash.hex(), "header": hdr.hex(),
                    "cert": self.cert(p["height"], hhash)}, None
        return None, (-32601, "METHOD_NOT_FOUND")


class HttpError(Exception):
    def __init__(self, code):
        self.code = code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-submits", type=int, default=0)
    ap.add_argument("--pending", type=int, default=0)
    ap.add_argument("--bad-proof", action="store_true")
    ap.add_argument("--wrong-value", action="store_true")
    ap.add_argument("--refuse-readings", action="store_true")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--slow-ms", type=int, default=0)
    ap.add_argument("--state", default=None)
    ap.add_argument("--chain-id", default="test")
    ap.add_argument("--genesis", default=None, help="write the genesis.json gridmeter trusts here")
    ap.add_argument("--validators", type=int, default=4)
    ap.add_argument("--cert", default="good",
                    choices=["good", "none", "bad-sig", "too-few", "foreign", "other-chain"])
    ap.add_argument("--genesis-only", action="store_true",
                    help="write --genesis and exit (for a gridmeter that starts before the node)")
    args = ap.parse_args()
    node = Node(args)
    if args.genesis_only:
        return 0
    node.replay()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(n))
            if args.slow_ms:
                time.sleep(args.slow_ms / 1000.0)
            try:
                result, err = node.call(req["method"], req.get("params", {}))
            except HttpError as e:
                self.send_response(e.code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if err:
                resp = {"jsonrpc": "2.0", "id": req.get("id"),
                        "error": {"code": err[0], "message": err[1], "data": {"error": err[1]}}}
            else:
                resp = {"jsonrpc": "2.0", "id": req.get("id"), "result": result}
            body = b"<html>not json" if args.garbage else json.dumps(resp).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.HTTPServer.allow_reuse_address = True
    srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    print("port %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
