"""pyzmq programs through weft's ZeroMQ endpoints, and the same programs talking directly over
CURVE on loopback: the reference, measured in the same run.

Prints one JSON object per line: {"row", "p50_ms", "p99_ms", "per_sec", "lost"}.
    zmq_endpoints.py weft CALL OFFER PUB SUB CALLS MESSAGES
        REQ on CALL to a REP on OFFER (another node), one at a time; then PUB on PUB
        (`[bench, body]`) to a SUB on SUB (another node)
    zmq_endpoints.py direct CALLS MESSAGES
        the same pairs connected to each other over CURVE on 127.0.0.1
A REP runs in its own process. Every body is 64 bytes of text; every wait is bounded.
"""

import json
import multiprocessing as mp
import sys
import time

import zmq

BODY = b"x" * 64
DEADLINE = 120


def row(name, samples, wall, lost=0):
    samples.sort()
    at = lambda p: samples[min(len(samples) - 1, (len(samples) - 1) * p // 100)] if samples else 0
    print(json.dumps({
        "row": name,
        "p50_ms": at(50) * 1000,
        "p99_ms": at(99) * 1000,
        "per_sec": len(samples) / wall if wall else 0,
        "lost": lost,
    }), flush=True)


def rep(endpoint, bind, keys):
    socket = zmq.Context().socket(zmq.REP)
    if keys:
        socket.curve_secretkey, socket.curve_publickey = keys
        socket.curve_server = True
    (socket.bind if bind else socket.connect)(endpoint)
    while True:
        socket.send(socket.recv())


def client(socket, server_public):
    if server_public:
        public, secret = zmq.curve_keypair()
        socket.curve_secretkey, socket.curve_publickey = secret, public
        socket.curve_serverkey = server_public


def round_trips(name, endpoint, calls, server_public=None):
    socket = zmq.Context.instance().socket(zmq.REQ)
    client(socket, server_public)
    socket.connect(endpoint)
    end = time.time() + DEADLINE
    warm = 0
    while warm < 100 and time.time() < end:  # the provider known, connections up
        socket.send(BODY)
        if not socket.recv().startswith(b"weft-error: "):
            warm += 1
    samples = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        socket.send(BODY)
        reply = socket.recv()
        assert reply == BODY, reply[:200]
        samples.append(time.perf_counter() - t)
    row(name, samples, time.perf_counter() - start)


def fan_out(name, pub_endpoint, sub_endpoint, messages, bind, keys=None):
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    pub = context.socket(zmq.PUB)
    pub.sndhwm = 0  # nothing dropped at the publisher: the rate is what the path carries
    if keys:
        pub.curve_secretkey, pub.curve_publickey = keys
        pub.curve_server = True
        client(sub, keys[1])
    (pub.bind if bind else pub.connect)(pub_endpoint)
    sub.connect(sub_endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"bench")
    sub.rcvtimeo = 100
    end = time.time() + DEADLINE
    while time.time() < end:  # subscribed end to end
        pub.send_multipart([b"bench", b"probe"])
        try:
            if sub.recv_multipart()[1] == b"probe":
                break
        except zmq.Again:
            pass
    while True:  # the probes still on their way
        try:
            sub.recv_multipart()
        except zmq.Again:
            break
    sub.rcvtimeo = 5000
    start = time.perf_counter()
    for i in range(messages):
        pub.send_multipart([b"bench", b"%063d" % i])
    got = 0
    last = start
    while got < messages:
        try:
            if sub.recv_multipart()[1] != b"probe":
                got += 1
                last = time.perf_counter()
        except zmq.Again:
            break
    row(name, [0.0] * got, last - start, lost=messages - got)


def main():
    mode = sys.argv[1]
    if mode == "weft":
        call, offer, pub, sub, calls, messages = sys.argv[2:8]
        mp.Process(target=rep, args=(offer, False, None), daemon=True).start()
        round_trips("REQ/REP through two weft nodes", call, int(calls))
        fan_out("PUB/SUB through two weft nodes", pub, sub, int(messages), False)
    else:
        calls, messages = (int(a) for a in sys.argv[2:4])
        public, secret = zmq.curve_keypair()
        mp.Process(target=rep, args=("tcp://127.0.0.1:5711", True, (secret, public)), daemon=True).start()
        round_trips("REQ/REP direct over CURVE", "tcp://127.0.0.1:5711", calls, public)
        fan_out("PUB/SUB direct over CURVE", "tcp://127.0.0.1:5712", "tcp://127.0.0.1:5712",
                messages, True, (secret, public))


if __name__ == "__main__":
    main()
