"""ZeroMQ over CURVE on loopback, the reference for weft's services and queues.

Prints one JSON object per line: {"row", "p50_ms", "p99_ms", "per_sec"}. Rows:
REQ/REP one at a time, DEALER/ROUTER with IN_FLIGHT in flight (both echo 1 KiB), and
PUSH/PULL throughput (1 KiB, pushed to a puller that confirms once it has them all). Every
server runs in its own process, every socket uses CURVE (the server's key pinned).
Usage: python3 zmq_bench.py CALLS IN_FLIGHT ITEMS
"""

import json
import multiprocessing as mp
import sys
import time

import zmq

BODY = b"x" * 1024


def curve_server(socket, secret, public):
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_server = True


def curve_client(socket, server_public):
    public, secret = zmq.curve_keypair()
    socket.curve_secretkey = secret
    socket.curve_publickey = public
    socket.curve_serverkey = server_public


def echo(kind, port, keys):
    ctx = zmq.Context()
    s = ctx.socket(kind)
    curve_server(s, *keys)
    s.bind(f"tcp://127.0.0.1:{port}")
    while True:
        if kind == zmq.REP:
            s.send(s.recv())
        else:
            s.send_multipart(s.recv_multipart())


def pull(port, confirm_port, keys, items):
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    curve_server(s, *keys)
    s.bind(f"tcp://127.0.0.1:{port}")
    done = ctx.socket(zmq.PUSH)
    curve_server(done, *keys)
    done.bind(f"tcp://127.0.0.1:{confirm_port}")
    while True:
        for _ in range(items):
            s.recv()
        done.send(b"done")


def figures(row, samples, wall):
    samples.sort()
    at = lambda p: samples[min(len(samples) - 1, (len(samples) - 1) * p // 100)]
    print(json.dumps({
        "row": row,
        "p50_ms": at(50) * 1000,
        "p99_ms": at(99) * 1000,
        "per_sec": len(samples) / wall,
    }), flush=True)


def server(target, *args):
    p = mp.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def main():
    calls, in_flight, items = (int(a) for a in sys.argv[1:4])
    public, secret = zmq.curve_keypair()
    keys = (secret, public)
    ctx = zmq.Context()

    server(echo, zmq.REP, 5701, keys)
    req = ctx.socket(zmq.REQ)
    curve_client(req, public)
    req.connect("tcp://127.0.0.1:5701")
    for _ in range(100):  # handshake and warm-up
        req.send(BODY)
        req.recv()
    samples = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        req.send(BODY)
        req.recv()
        samples.append(time.perf_counter() - t)
    figures("REQ/REP over CURVE, one at a time", samples, time.perf_counter() - start)

    server(echo, zmq.ROUTER, 5702, keys)
    dealer = ctx.socket(zmq.DEALER)
    curve_client(dealer, public)
    dealer.connect("tcp://127.0.0.1:5702")
    dealer.send_multipart([b"warm", BODY])
    dealer.recv_multipart()
    sent = {}
    samples = []
    next_id = 0
    start = time.perf_counter()
    while next_id < min(in_flight, calls):
        sent[next_id] = time.perf_counter()
        dealer.send_multipart([next_id.to_bytes(4, "big"), BODY])
        next_id += 1
    while len(samples) < calls:
        tag, _ = dealer.recv_multipart()
        samples.append(time.perf_counter() - sent.pop(int.from_bytes(tag, "big")))
        if next_id < calls:
            sent[next_id] = time.perf_counter()
            dealer.send_multipart([next_id.to_bytes(4, "big"), BODY])
            next_id += 1
    figures(f"DEALER/ROUTER over CURVE, {in_flight} in flight", samples, time.perf_counter() - start)

    server(pull, 5703, 5704, keys, items)
    push = ctx.socket(zmq.PUSH)
    curve_client(push, public)
    push.connect("tcp://127.0.0.1:5703")
    confirm = ctx.socket(zmq.PULL)
    curve_client(confirm, public)
    confirm.connect("tcp://127.0.0.1:5704")
    time.sleep(0.2)  # both connections up
    start = time.perf_counter()
    for _ in range(items):
        push.send(BODY)
    confirm.recv()
    wall = time.perf_counter() - start
    print(json.dumps({
        "row": "PUSH/PULL over CURVE (not durable, not acknowledged)",
        "p50_ms": 0.0,
        "p99_ms": 0.0,
        "per_sec": items / wall,
    }), flush=True)


if __name__ == "__main__":
    main()
