"""Concurrent clients and the history they record.

Each client is a thread bound to one voter (Jepsen's model: a client talks to "its" node),
issuing linearizable gets, puts of unique values and compare-and-set Txns on a small key set.
Every operation is recorded with monotonic times taken before the request is sent and after
the answer arrives, and one of three outcomes:
  ok       the answer arrived;
  fail     a get that got an error (a read has no effect, so an error is a plain failure);
  unknown  a put or cas that got an error or timed out: it may or may not have taken effect.
After an unknown outcome the client continues under a new client id (the old one may still
be "in flight" forever, as far as the checker knows).
"""

import random
import threading
import time

import grpc

KIND_WEIGHTS = (("get", 4), ("put", 3), ("cas", 3))


class Op:
    __slots__ = ("client", "kind", "key", "value", "expected", "call", "ret", "outcome",
                 "read", "cas_ok", "member")

    def __init__(self, client, kind, key, value="", expected="", member=""):
        self.client, self.kind, self.key = client, kind, key
        self.value, self.expected, self.member = value, expected, member
        self.call = self.ret = None
        self.outcome = None
        self.read = None  # get ok: value read, None = absent
        self.cas_ok = False


class History:
    def __init__(self):
        self.ops = []
        self.lock = threading.Lock()

    def add(self, op):
        with self.lock:
            self.ops.append(op)

    def snapshot(self):
        with self.lock:
            return list(self.ops)


class Client(threading.Thread):
    def __init__(self, index, cluster, history, keys, seed, timeout, stop,
                 serializable_reads=False):
        super().__init__(name=f"client{index}", daemon=True)
        self.index, self.cluster, self.history, self.keys = index, cluster, history, keys
        self.rng = random.Random(seed)
        self.timeout, self.stop = timeout, stop
        self.serializable_reads = serializable_reads
        self.generation = 0
        self.seq = 0
        self.member = None
        self.last_seen = {}  # key -> last value this client read or wrote

    @property
    def client_id(self):
        return self.index * 1000 + self.generation

    def _bind(self):
        voters = self.cluster.voters()
        if self.member is None or self.member not in voters:
            if not voters:
                return None
            self.member = voters[(self.index + self.rng.randrange(len(voters))) % len(voters)]
        return self.member

    def _next_op(self, member):
        kinds = [k for k, w in KIND_WEIGHTS for _ in range(w)]
        kind = self.rng.choice(kinds)
        key = self.rng.choice(self.keys)
        self.seq += 1
        value = f"c{self.index}v{self.seq}"
        if kind == "cas":
            if key not in self.last_seen:
                kind = "put"  # nothing sensible to compare against yet
            else:
                return Op(self.client_id, "cas", key, value, self.last_seen[key], member.name)
        if kind == "get":
            return Op(self.client_id, "get", key, member=member.name)
        return Op(self.client_id, "put", key, value, member=member.name)

    def _execute(self, op, ep):
        key = op.key.encode()
        if op.kind == "get":
            v = ep.get(key, self.timeout, serializable=self.serializable_reads)
            op.read = None if v is None else v.decode()
            if op.read is not None:
                self.last_seen[op.key] = op.read
        elif op.kind == "put":
            ep.put(key, op.value.encode(), self.timeout)
            self.last_seen[op.key] = op.value
        else:
            op.cas_ok = ep.cas(key, op.expected.encode(), op.value.encode(), self.timeout)
            if op.cas_ok:
                self.last_seen[op.key] = op.value

    def run(self):
        while not self.stop.is_set():
            member = self._bind()
            if member is None:
                time.sleep(0.1)
                continue
            op = self._next_op(member)
            op.call = time.monotonic_ns()
            try:
                self._execute(op, member.endpoint)
                op.ret = time.monotonic_ns()
                op.outcome = "ok"
            except (grpc.RpcError, ValueError):  # ValueError: channel of a removed member
                op.ret = time.monotonic_ns()
                op.outcome = "fail" if op.kind == "get" else "unknown"
            self.history.add(op)
            if op.outcome != "ok":
                if op.outcome == "unknown":
                    self.generation += 1
                # Back off, and sometimes move to another member (it may be dead or cut off).
                time.sleep(0.05 + self.rng.random() * 0.1)
                if self.rng.random() < 0.5:
                    self.member = None
            else:
                time.sleep(0.01 + self.rng.random() * 0.02)  # ~200 ops/s with 6 clients
