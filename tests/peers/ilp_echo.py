#!/usr/bin/python3
"""ilp_echo.py -- an ILP/1 "echo provisioner", the cross-language test peer.

Written from docs/protocol.md alone (no C source of interlook was read), to
show that the document is enough to write an extension in another language.
It answers every WORK with a RESULT carrying the service it received,
unchanged.  With a `provider.*` name and --provider-events N it also reports
the services py-0 .. py-(N-1) and answers refresh requests for them.

With --fixed-ip ADDR it plays a misbehaving allocator (an `ipam.*` step):
every add is answered with public_ip ADDR, whatever the service; a delete
is answered without a public_ip (released).

Batches (section 2.3): with --batch N (N > 1) it asks for WORK batches of N
in HELLO, takes a WORK body that is an array of maps, and sends its RESULTs
in arrays of at most min(N, the WELCOME's batch) items (under 64 KiB).

Reliability (protocol.md section 5): heartbeats both ways; a core silent for
liveness x heartbeat means a new DEALER and HELLO, repeated with back-off
until WELCOME; HELLO again on ERROR code unknown-peer and on a `core` publication
with another core_id; RESULTs and EVENTs are kept while not registered and
sent after WELCOME; a WORK id already being worked on is ignored; BYE on
SIGTERM/SIGINT, exit 0.  Malformed input is logged and ignored.

Several cores (section 5.1): --router and --publish take comma-separated
lists, paired by index; it talks to one core at a time and moves to the
next when a HELLO got no WELCOME within liveness x heartbeat, or when the
core it is registered with falls silent that long.  On purpose it does NOT
know the ERROR code `not-leader` (it logs it like any unknown code): it
finds the leader by the time-out alone, as section 5.1 says a peer that
predates that code does.

Security (protocol.md section "Security"): with --core-cert FILE (the core's
public certificate) and --cert FILE (its own, FILE_secret beside it; both in
czmq's format, as `interlookctl keygen` writes them), both sockets use CURVE.
A key the core does not know gets no connection at all (nothing is received;
the handshake failure is logged once); a name the key may not use gets DENIED.

Needs Debian's python3-zmq and python3-msgpack: run it with /usr/bin/python3.
"""
import argparse
import os
import re
import signal
import socket
import sys
import time

import msgpack
import zmq
import zmq.auth

SIGNATURE = b"ILP1"
VERSION = "ilp_echo.py/1"
MAX_FRAME = 1048576                        # 1 MiB, section 1 and 2
CORE_COMMANDS = (b"WELCOME", b"DENIED", b"WORK", b"HEARTBEAT", b"ERROR")
MAX_BATCH, BATCH_BYTES = 256, 65536        # section 2.3
OWN_HEARTBEAT, OWN_LIVENESS = 1.0, 3       # section 5: used before WELCOME
BACKOFF_START, BACKOFF_CAP = 0.1, 30.0     # section 5
NAME_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\Z")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class Malformed(Exception):
    """The message breaks a rule of the protocol: log it and ignore it."""


def _first_wins(pairs):
    body = {}
    for key, value in pairs:               # keys are str; a repeated key: first counts
        if not isinstance(key, str):
            raise Malformed("a map key is not a str")
        body.setdefault(key, value)
    return body


def decode(frame, batch_ok=False):
    """One body frame -> dict (or, when batch_ok, a list of 1-256 dicts: a
    batch, section 2.3), with the bounds of section 2."""
    if len(frame) > MAX_FRAME:
        raise Malformed("frame larger than 1 MiB")
    try:                                   # unpackb refuses trailing bytes (ExtraData)
        body = msgpack.unpackb(frame, raw=False, object_pairs_hook=_first_wins,
                               max_str_len=65536, max_bin_len=65536, max_ext_len=65536,
                               max_array_len=4096, max_map_len=4096)
    except Malformed:
        raise
    except Exception as e:
        raise Malformed(f"bad msgpack ({type(e).__name__}: {e})") from None
    if batch_ok and isinstance(body, list):
        if not 1 <= len(body) <= MAX_BATCH or not all(isinstance(b, dict) for b in body):
            raise Malformed("a batch is an array of 1 to 256 maps")
    elif not isinstance(body, dict):
        raise Malformed("the body is not a map")
    count, stack = 0, [(body, 1)]          # iterative: no recursion limit to hit
    while stack:
        obj, depth = stack.pop()
        count += 1
        if isinstance(obj, (dict, list)):
            if depth > 16:
                raise Malformed("nested deeper than 16 levels")
            items = list(obj.values()) if isinstance(obj, dict) else obj
            count += len(obj) if isinstance(obj, dict) else 0   # the keys
            stack.extend((item, depth + 1) for item in items)
        if count > 65536:
            raise Malformed("more than 65536 objects")
    return body


def text(m, key, lo=0, hi=65536, required=True):
    """A text field (nil = absent); length in UTF-8 bytes."""
    v = m.get(key)
    if v is None:
        if required:
            raise Malformed(f"{key}: missing")
        return None
    if not isinstance(v, str) or not lo <= len(v.encode()) <= hi or CONTROL_RE.search(v):
        raise Malformed(f"{key}: expected a str of {lo}-{hi} bytes without control characters")
    return v


def uint(m, key, lo, hi):
    v = m.get(key)
    if type(v) is not int or not lo <= v <= hi:   # type(): a msgpack bool is no integer
        raise Malformed(f"{key}: expected an integer from {lo} to {hi}")
    return v


def short(body):
    s = repr(body)
    return s if len(s) <= 300 else s[:297] + "..."


class Echo:
    def __init__(self, args):
        self.a = args
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.monitors, self.auth_refused = {}, False
        self.dealer = None
        self.curve = None
        if args.cert:                      # (server key, our public key, our secret key)
            server, _ = zmq.auth.load_certificate(args.core_cert)
            public, secret = zmq.auth.load_certificate(args.cert + "_secret")
            if not secret:
                raise SystemExit(f"ilp_echo: {args.cert}_secret holds no secret key")
            self.curve = (server, public, secret)
        self.sub = self.ctx.socket(zmq.SUB)
        self.curve_on(self.sub)
        self.sub.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.cores = list(zip(args.router.split(","), args.publish.split(",")))
        self.at = 0                         # the core talked to: an index in self.cores
        self.sub.connect(self.cores[0][1])
        self.refresh_topic = b"refresh." + args.name.encode()
        for topic in (self.refresh_topic, b"core"):
            self.sub.setsockopt(zmq.SUBSCRIBE, topic)
        self.poller.register(self.sub, zmq.POLLIN)
        self.registered, self.core_id, self.stop = False, None, False
        self.core_batch = 1                 # RESULTs the core takes in one message
        self.hb, self.liveness = OWN_HEARTBEAT, OWN_LIVENESS
        self.backoff, self.next_hello, self.heard = BACKOFF_START, 0.0, False
        self.last_recv = self.last_send = time.monotonic()
        self.results, self.events = {}, {}  # kept while not registered: by id / by name
        self.working = {}                   # work id -> (time the RESULT is due, RESULT)
        self.services = {}
        if args.provider_events and args.name.startswith("provider."):
            for i in range(args.provider_events):
                self.services[f"py-{i}"] = {"name": f"py-{i}",
                                            "targets": [{"host": "192.0.2.1", "port": 8000 + i}]}

    def curve_on(self, sock):
        """CURVE client: set before connect.  A refused key shows as a failed
        handshake (a monitor event), never as a message."""
        if not self.curve:
            return
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = self.curve
        mon = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        self.poller.register(mon, zmq.POLLIN)
        self.monitors[mon] = sock

    def on_monitor(self, mon):
        while True:
            try:
                frames = mon.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if not self.auth_refused:          # once, not at every reconnection
                self.log("CURVE handshake refused by the core: our key is not in its clientCerts")
            self.auth_refused = True

    def log(self, msg):
        print(f"ilp_echo[{self.a.instance}]: {msg}", file=sys.stderr, flush=True)

    # -- sending ---------------------------------------------------------
    def new_dealer(self):
        if self.dealer is not None:         # drop what is still queued for the old core
            self.poller.unregister(self.dealer)
            self.dealer.close(linger=0)
        for mon, sock in list(self.monitors.items()):
            if sock is self.dealer:
                self.poller.unregister(mon)
                del self.monitors[mon]
                mon.close(linger=0)
        self.dealer = self.ctx.socket(zmq.DEALER)   # no ZMQ_ROUTING_ID (section 1)
        self.curve_on(self.dealer)
        self.dealer.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(self.cores[self.at][0])
        self.poller.register(self.dealer, zmq.POLLIN)

    def send(self, cmd, body):
        self.last_send = time.monotonic()
        try:                                # never block: a full queue is a failed send
            self.dealer.send_multipart([SIGNATURE, cmd, msgpack.packb(body, use_bin_type=True)],
                                       flags=zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def next_core(self):
        """Several cores: the next pair of endpoints, a new DEALER, the SUB
        moved along.  One core: just a new DEALER."""
        if len(self.cores) > 1:
            self.sub.disconnect(self.cores[self.at][1])
            self.at = (self.at + 1) % len(self.cores)
            self.sub.connect(self.cores[self.at][1])
            self.log(f"no WELCOME or a silent core: trying {self.cores[self.at][0]}")
        self.new_dealer()

    def hello(self, new_socket=False, reset_backoff=False):
        if new_socket or self.dealer is None:
            self.new_dealer()
        if reset_backoff:
            self.backoff = BACKOFF_START
        self.registered, self.heard = False, False
        self.hb, self.liveness = OWN_HEARTBEAT, OWN_LIVENESS
        hello = {"name": self.a.name, "instance": self.a.instance,
                 "version": VERSION, "credit": self.a.credit}
        if self.a.batch > 1:
            hello["batch"] = self.a.batch
        self.send(b"HELLO", hello)
        self.next_hello = time.monotonic() + self.hb * self.liveness + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_CAP)

    def emit(self, cmd, key, body):
        """Send a RESULT or EVENT now, or keep it until the next WELCOME."""
        if not (self.registered and self.send(cmd, body)):
            (self.results if cmd == b"RESULT" else self.events)[key] = body

    def emit_results(self, results):
        """Send due RESULTs, several in one message when both sides take
        batches; what cannot leave is kept until the next WELCOME."""
        size = min(self.a.batch, self.core_batch)
        if size <= 1 or not self.registered:
            for wid, result in results:
                self.emit(b"RESULT", wid, result)
            return
        while results:
            chunk, nbytes = [], 0
            while results and len(chunk) < size:
                n = len(msgpack.packb(results[0][1], use_bin_type=True))
                if chunk and nbytes + n > BATCH_BYTES - 3:
                    break
                chunk.append(results.pop(0))
                nbytes += n
            body = chunk[0][1] if len(chunk) == 1 else [r for _, r in chunk]
            if not self.send(b"RESULT", body):
                for wid, result in chunk:
                    self.results[wid] = result

    def flush(self):
        for store, cmd in ((self.results, b"RESULT"), (self.events, b"EVENT")):
            for key in list(store):
                if not self.send(cmd, store[key]):
                    return
                del store[key]

    # -- receiving -------------------------------------------------------
    def on_dealer(self, frames):
        self.last_recv, self.heard = time.monotonic(), True   # any message is life
        if len(frames) != 3 or frames[0] != SIGNATURE or frames[1] not in CORE_COMMANDS:
            raise Malformed(f"refused: {len(frames)} frames {short(frames[:2])}")
        body = decode(frames[2], batch_ok=frames[1] == b"WORK" and self.a.batch > 1)
        if self.a.log:
            self.log(f"<- {frames[1].decode()} {short(body)}")
        handler = getattr(self, "on_" + frames[1].decode().lower())
        for item in body if isinstance(body, list) else [body]:
            try:                                   # a bad item does not spoil the others
                handler(item)
            except Malformed as e:
                self.log(f"malformed item ignored: {e}")

    def on_welcome(self, body):
        hb, liveness = uint(body, "heartbeat_ms", 10, 3600000), uint(body, "liveness", 1, 100)
        self.core_id = text(body, "core_id", 0, 64)
        self.core_batch = uint(body, "batch", 1, MAX_BATCH) if body.get("batch") is not None else 1
        self.hb, self.liveness, self.registered = hb / 1000, liveness, True
        self.backoff = BACKOFF_START
        for name, svc in self.services.items():    # providers re-report after every WELCOME
            self.events[name] = {"action": "add", "service": svc}
        self.flush()

    def on_denied(self, body):
        self.registered = False                    # HELLO again on the back-off schedule
        self.log(f"DENIED: {text(body, 'reason', required=False)}")

    def on_heartbeat(self, body):
        pass

    def on_error(self, body):
        reason, code = text(body, "reason", required=False), text(body, "code", 0, 32, False)
        if code == "unknown-peer":                 # the core forgot us: register again
            self.log(f"ERROR {code} ({reason}): HELLO again")
            self.hello(reset_backoff=True)
        else:
            self.log(f"ERROR {code} about work {text(body, 'id', 0, 64, False)!r}: {reason}")

    def on_work(self, body):
        wid = text(body, "id", 0, 64)
        if wid in self.working:
            self.log(f"WORK {wid!r} delivered again while in progress: ignored")
            return
        try:
            if text(body, "action") not in ("add", "delete"):
                raise Malformed(f"action: unknown {body['action']!r}")
            uint(body, "attempt", 1, 2**64 - 1)
            service = body.get("service")
            if not isinstance(service, dict):
                raise Malformed("service: expected a map")
            text(service, "name", 1, 255)
            if self.a.fixed_ip:
                if body["action"] == "add":
                    service["public_ip"] = self.a.fixed_ip
                else:
                    service.pop("public_ip", None)
            result = {"id": wid, "service": service}
            if len(msgpack.packb(result, use_bin_type=True)) > MAX_FRAME:
                raise Malformed("the RESULT would be larger than 1 MiB")
        except Malformed as e:
            self.log(f"bad WORK {wid!r}: {e}; answering with an error")
            result = {"id": wid, "error": f"bad WORK: {e}"[:1024]}
        self.working[wid] = (time.monotonic() + self.a.delay_ms / 1000, result)

    def on_sub(self, frames):
        if len(frames) != 2:
            raise Malformed(f"publication with {len(frames)} frames")
        topic = frames[0]
        if topic not in (self.refresh_topic, b"core"):
            return                                 # subscriptions match by prefix only
        body = decode(frames[1])
        if self.a.log:
            self.log(f"<- PUB {topic.decode()} {short(body)}")
        if topic == b"core":
            if body.get("event") != "started":
                return
            core_id = text(body, "core_id", 0, 64)
            if not self.registered or core_id != self.core_id:
                self.log(f"core {core_id!r} started: HELLO again")
                self.hello(new_socket=True, reset_backoff=True)
            return
        service = body.get("service")
        if not isinstance(service, dict):
            raise Malformed("refresh: service: expected a map")
        name = text(service, "name", 1, 255)
        if name in self.services:
            self.emit(b"EVENT", name, {"action": "add", "service": self.services[name]})
        else:
            self.emit(b"EVENT", name, {"action": "delete", "service": {"name": name}})

    # -- main loop -------------------------------------------------------
    def timers(self):
        now = time.monotonic()
        due = [(wid, result) for wid, (t, result) in self.working.items() if t <= now]
        for wid, _ in due:
            del self.working[wid]
        self.emit_results(due)
        if self.registered:
            if now - self.last_recv >= self.hb * self.liveness:
                self.log("the core is silent: new DEALER and HELLO")
                self.next_core()
                self.hello(reset_backoff=True)
            elif now - self.last_send >= self.hb:
                self.send(b"HEARTBEAT", {})
            if self.results or self.events:
                self.flush()
        elif now >= self.next_hello and len(self.cores) > 1:
            self.next_core()                       # no WELCOME in time: the next core
            self.hello()
        elif now >= self.next_hello:
            self.hello(new_socket=not self.heard)  # a core that answers keeps its socket

    def drain(self, sock, handler):
        for _ in range(1000):                      # bounded: timers must run too
            if sock.closed:
                return
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                handler(frames)
            except Malformed as e:
                self.log(f"malformed message ignored: {e}")
            except Exception as e:                 # never crash on input
                self.log(f"message ignored, {type(e).__name__}: {e}")

    def run(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: setattr(self, "stop", True))
        self.hello(new_socket=True)
        while not self.stop:
            ready = dict(self.poller.poll(100))    # short timeout: timers and signals
            if ready.get(self.dealer):
                self.drain(self.dealer, self.on_dealer)
            if ready.get(self.sub):
                self.drain(self.sub, self.on_sub)
            for mon in [m for m in self.monitors if ready.get(m)]:
                self.on_monitor(mon)
            self.timers()
        self.send(b"BYE", {})
        for mon in self.monitors:
            mon.close(linger=0)
        self.dealer.close(linger=1000)
        self.sub.close()
        self.ctx.term()
        self.log("stopped (BYE sent)")


def main():
    p = argparse.ArgumentParser(description="ILP/1 echo provisioner (test peer)")
    p.add_argument("--router", default=os.environ.get("INTERLOOK_BUS_ROUTER", "tcp://127.0.0.1:5570"))
    p.add_argument("--publish", default=os.environ.get("INTERLOOK_BUS_PUBLISH", "tcp://127.0.0.1:5571"))
    p.add_argument("--name", default="provisioner.echo")
    p.add_argument("--instance", default=f"{socket.gethostname()}-{os.getpid()}")
    p.add_argument("--credit", type=int, default=10)
    p.add_argument("--batch", type=int, default=1, help="WORK/RESULT items per message (1-256)")
    p.add_argument("--provider-events", type=int, default=0, metavar="N")
    p.add_argument("--delay-ms", type=int, default=0, help="hold each RESULT this long (tests)")
    p.add_argument("--log", action="store_true", help="one line per received command on stderr")
    p.add_argument("--fixed-ip", metavar="ADDR", help="answer every add with this public_ip (tests)")
    p.add_argument("--core-cert", metavar="FILE", help="the core's public CURVE certificate")
    p.add_argument("--cert", metavar="FILE", help="our CURVE certificate (FILE_secret beside it)")
    a = p.parse_args()
    if len(a.router.split(",")) != len(a.publish.split(",")):
        p.error("--router and --publish: as many endpoints in each (paired by index)")
    if len(a.name) > 64 or not NAME_RE.match(a.name):
        p.error("--name: two or more '.'-separated segments of [A-Za-z0-9_-], at most 64")
    if not 1 <= len(a.instance.encode()) <= 128 or CONTROL_RE.search(a.instance):
        p.error("--instance: 1-128 bytes without control characters")
    if not 1 <= a.credit <= 10000:
        p.error("--credit: from 1 to 10000")
    if not 1 <= a.batch <= MAX_BATCH:
        p.error("--batch: from 1 to 256")
    if a.fixed_ip is not None and not 1 <= len(a.fixed_ip) <= 45:
        p.error("--fixed-ip: an address of 1-45 characters")
    if bool(a.cert) != bool(a.core_cert):
        p.error("--cert and --core-cert go together (CURVE), or neither")
    if a.provider_events < 0 or a.provider_events > 57535 or a.delay_ms < 0:
        p.error("--provider-events and --delay-ms must be >= 0 (ports stay <= 65535)")
    Echo(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
