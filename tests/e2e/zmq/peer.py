"""ZeroMQ programs for the end-to-end tests, written against plain pyzmq as any ZeroMQ
program would be: they know nothing of weft but the endpoint string. Each prints JSON
lines on stdout; every wait is bounded.

    peer.py sub ENDPOINT PREFIX READY_FILE COUNT   receive COUNT messages besides probes; each
                                                   probe's TAG is written to READY_FILE once
    peer.py pub ENDPOINT TOPIC TAG COUNT READY...  probe until every READY file holds TAG
                                                   (this publisher's own messages arrive: a
                                                   PUB drops what it sends before it hears of
                                                   a subscription), then publish COUNT
                                                   messages "TAG i"
    peer.py rep ENDPOINT TAG                       answer each request with "TAG:request"
    peer.py req ENDPOINT                           call until a line other than "mark" arrives
                                                   on stdin; "mark" prints the counts so far
    peer.py once ENDPOINT BODY                     call once and print the reply
    peer.py push ENDPOINT COUNT                    push COUNT items "item i"
    peer.py pull ENDPOINT                          print each item
    peer.py acker ENDPOINT                         work-ack: ask for two items at a time, fail
                                                   items "item N" with N % 100 == 0 once
                                                   each, acknowledge the rest
    peer.py hostile PUB CALL QUEUE                 send what no endpoint should take
    peer.py curve ENDPOINT SERVER_KEY              call over CURVE, with one new key, once
                                                   for each line "BODY [SECONDS]" on stdin,
                                                   waiting that long (3) for the reply
"""
import json
import sys
import threading
import time

import zmq

DEADLINE = 120  # seconds: no wait here is longer


def say(**fields):
    print(json.dumps(fields), flush=True)


def sub(endpoint, prefix, ready, count):
    socket = zmq.Context().socket(zmq.SUB)
    socket.connect(endpoint)
    socket.setsockopt_string(zmq.SUBSCRIBE, prefix)
    socket.RCVTIMEO = 1000
    received, probed = [], set()
    end = time.time() + DEADLINE
    while len(received) < int(count) and time.time() < end:
        try:
            topic, body = socket.recv_multipart()
        except zmq.Again:
            continue
        kind, _, tag = body.decode().partition(" ")
        if kind != "probe":
            received.append(body.decode())
        elif tag not in probed:
            probed.add(tag)
            with open(ready, "a") as f:
                f.write(tag + "\n")
    say(received=received)


def lines(path):
    """The lines of the file at `path` (none while it does not exist)."""
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def pub(endpoint, topic, tag, count, *ready):
    socket = zmq.Context().socket(zmq.PUB)
    socket.connect(endpoint)
    end = time.time() + DEADLINE
    while not all(tag in lines(r) for r in ready):
        if time.time() > end:
            say(error="the subscribers never saw a probe")
            return
        socket.send_multipart([topic.encode(), f"probe {tag}".encode()])
        time.sleep(0.1)
    for i in range(int(count)):
        socket.send_multipart([topic.encode(), f"{tag} {i}".encode()])
    say(sent=int(count))
    socket.close(linger=5000)


def rep(endpoint, tag):
    socket = zmq.Context().socket(zmq.REP)
    socket.connect(endpoint)
    say(serving=tag)
    while True:
        request = socket.recv()
        socket.send(tag.encode() + b":" + request)


def req(endpoint):
    stop, mark = threading.Event(), threading.Event()

    def listen():
        for line in sys.stdin:
            if line.strip() != "mark":
                break
            mark.set()
        stop.set()

    threading.Thread(target=listen, daemon=True).start()
    context = zmq.Context()
    socket = context.socket(zmq.REQ)
    socket.connect(endpoint)
    done, by, errors, started = 0, {}, [], False
    end = time.time() + DEADLINE
    while not stop.is_set() and time.time() < end:
        body = f"call {done}".encode()
        socket.send(body)
        reply = socket.recv()
        if reply.startswith(b"weft-error: "):
            if started:
                errors.append(reply.decode())
            else:
                time.sleep(0.1)  # no provider yet
            continue
        started = True
        tag, _, echoed = reply.partition(b":")
        assert echoed == body, (reply, body)
        by[tag.decode()] = by.get(tag.decode(), 0) + 1
        done += 1
        if done % 50 == 0:
            say(done=done, by=by, errors=errors)
        if mark.is_set():
            mark.clear()
            say(mark=True, done=done, by=by, errors=errors)
    say(done=done, by=by, errors=errors, final=True)


def once(endpoint, body):
    socket = zmq.Context().socket(zmq.REQ)
    socket.connect(endpoint)
    socket.send(body.encode())
    say(reply=socket.recv().decode())


def push(endpoint, count):
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.connect(endpoint)
    for i in range(int(count)):
        socket.send(f"item {i}".encode())
    # Ends once everything sent has left (a PUSH queues what it sends).
    socket.close(linger=DEADLINE * 1000)
    context.term()
    say(pushed=int(count))


def pull(endpoint):
    socket = zmq.Context().socket(zmq.PULL)
    socket.connect(endpoint)
    say(working=True)
    while True:
        say(item=socket.recv().decode())


def acker(endpoint):
    socket = zmq.Context().socket(zmq.DEALER)
    socket.connect(endpoint)
    socket.send(b"ready")
    socket.send(b"ready")
    say(working=True)
    failed = set()
    while True:
        run, body = socket.recv_multipart()
        item = body.decode()
        if int(item.split()[1]) % 100 == 0 and item not in failed:
            failed.add(item)
            socket.send_multipart([run, b"failed on purpose"])
            say(failed=item)
        else:
            socket.send_multipart([run])
            say(item=item)


def hostile(pub_endpoint, call_endpoint, queue_endpoint):
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    publisher.connect(pub_endpoint)
    caller = context.socket(zmq.DEALER)
    caller.connect(call_endpoint)
    caller.RCVTIMEO = 30000
    pusher = context.socket(zmq.PUSH)
    pusher.connect(queue_endpoint)
    time.sleep(0.5)  # a PUB drops what it sends before it is connected
    big = b"x" * (2 * 1024 * 1024)
    for frames in (
        [b"news"],  # no body
        [b"news", b"a", b"b"],  # three frames
        [b"\xff\xfe", b"body"],  # a topic that is not UTF-8
        [b"Not A Topic", b"body"],  # not a topic name
        [b"news", b"\xff\xfe"],  # a body that is not text
        [b"news", big],  # over the text cap
    ):
        publisher.send_multipart(frames)
    replies = []
    for frames in ([b""], [b"", b"a", b"b"], [b"", big]):
        caller.send_multipart(frames)
        replies.append([f.decode(errors="replace")[:200] for f in caller.recv_multipart()])
    pusher.send_multipart([b"one", b"two"])  # an item is one frame
    pusher.send(big * 2)  # over the item cap
    publisher.send_multipart([b"news", b"x" * (5 * 1024 * 1024)])  # over libzmq's cap
    say(replies=replies)
    for s in (publisher, caller, pusher):
        s.close(linger=5000)


def curve(endpoint, server_key):
    public, secret = zmq.curve_keypair()
    say(key=public.decode())
    context = zmq.Context()
    for line in sys.stdin:
        body, _, wait = line.strip().partition(" ")
        socket = context.socket(zmq.REQ)
        socket.curve_serverkey = server_key.encode()
        socket.curve_publickey = public
        socket.curve_secretkey = secret
        socket.RCVTIMEO = int(float(wait or 3) * 1000)
        socket.connect(endpoint)
        socket.send(body.encode())
        try:
            say(reply=socket.recv().decode())
        except zmq.Again:
            say(reply=None)
        socket.close(linger=0)


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
