"""Watchers that record every event during a chaos run, and the check of what they saw
against the clients' write history (etcd's robustness-test watch properties).

Each recorder is a thread that watches every key (the workload's, prefix "k", and the lease
keeper's) with prev_kv through one member at a time. A stream lives a random 1-4 s (its deadline) or until it
fails (member killed, paused, cut off, or without a leader: the stream asks for one, as
etcdctl does); the recorder then resumes on a random member from the revision after the
last event it got, so a run exercises many members' histories and many resumptions.

The check (`check`), for every recorder:
  ordered     event revisions strictly increase (one key per write in this run);
  complete    every revision from its start to the final revision appears exactly once
              (every write is a single-key put or the revoke of a lease holding one key,
              so each revision has one event) — nothing missed, duplicated or reordered
              across resumptions;
  agreed      the same revision is the same event (key, value, version) for every recorder;
  prev_kv     an event's previous value is the key's value at the revision before;
and against the history, for the workload's keys: every event's value was written by a client to that key (put or a
cas that may have swapped: ok or unknown outcome), every acknowledged put and swapped cas
appears exactly once, and no failed cas appears.
"""

import random
import threading
import time

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

WATCH_FROM = b"\0"  # with range_end "\0": every key
WATCH_END = b"\0"
WORKLOAD_PREFIX = "k"  # the clients' keys (the lease keeper's are "lease-held-N")


class Recorder(threading.Thread):
    def __init__(self, index, cluster, start_rev, seed, log):
        super().__init__(name=f"watcher{index}", daemon=True)
        self.index, self.cluster, self.log = index, cluster, log
        self.rng = random.Random(seed)
        self.start_rev = start_rev
        self.next_rev = start_rev
        self.events = []  # (rev, key, value, version, prev value or None, member)
        self.problems = []
        self.resumes = 0
        self.stop = threading.Event()
        self.target_rev = None  # once set: stop after reaching it
        self.lock = threading.Lock()

    def done(self):
        with self.lock:
            return self.target_rev is not None and self.next_rev > self.target_rev

    def finish_at(self, rev):
        with self.lock:
            self.target_rev = rev

    def run(self):
        while not self.stop.is_set() and not self.done():
            # Any member, dead or alive: a dead one fails at once and the next try moves on.
            # (Asking a member whether its process runs would reap children from this thread,
            # racing the thread that restarts them.)
            members = self.cluster.all()
            if not members:
                time.sleep(0.1)
                continue
            m = self.rng.choice(members)
            try:
                self._stream(m)
            except grpc.RpcError:
                pass
            except ValueError:  # the channel of a member that was removed and closed
                pass
            self.resumes += 1
            time.sleep(0.05)

    def _stream(self, m):
        create = rpc_pb2.WatchCreateRequest(key=WATCH_FROM, range_end=WATCH_END,
                                            start_revision=self.next_rev, prev_kv=True)
        stop = self.stop
        lifetime = 1 + self.rng.random() * 3

        def requests():
            yield rpc_pb2.WatchRequest(create_request=create)
            stop.wait(lifetime + 1)  # keep the send side open while the stream lives

        stub = rpc_pb2_grpc.WatchStub(m.endpoint.channel)
        created = False
        for resp in stub.Watch(requests(), timeout=lifetime,
                               metadata=(("hasleader", "true"),)):
            if resp.created:
                if resp.canceled:
                    self.problems.append(f"create refused by {m.name}: {resp.cancel_reason}")
                    return
                created = True
                continue
            if not created:
                self.problems.append(f"{m.name}: a response before created: {resp}")
            if resp.compact_revision:
                self.problems.append(f"{m.name}: cancelled, compacted at {resp.compact_revision}"
                                     f" while at {self.next_rev} (nothing compacts in a run)")
                return
            revs = set()
            for ev in resp.events:
                rev = ev.kv.mod_revision
                revs.add(rev)
                if rev < self.next_rev:
                    self.problems.append(f"{m.name}: revision {rev} after {self.next_rev - 1}"
                                         " (duplicate or out of order)")
                    continue
                value = None if ev.type == 1 else ev.kv.value.decode()
                prev = ev.prev_kv.value.decode() if ev.HasField("prev_kv") else None
                with self.lock:
                    self.events.append((rev, ev.kv.key.decode(), value, ev.kv.version, prev,
                                        m.name))
                    self.next_rev = rev + 1
            if resp.events and max(revs) > resp.header.revision:
                self.problems.append(f"{m.name}: header revision {resp.header.revision} below "
                                     f"its events' {max(revs)}")
            if self.done():
                return


def check(recorders, ops, final_rev, log):
    """Returns a list of problems (empty: every property holds)."""
    problems = []
    for r in recorders:
        problems += [f"watcher{r.index}: {p}" for p in r.problems]
        # The window ends at the final revision, read after the clients stopped; writes may
        # still come after it (the leader revokes an expired lease the keeper abandoned
        # earlier, when leader changes had extended its TTL), and a recorder takes a whole
        # response, which may hold such later revisions too. Ordering is checked on receipt.
        revs = [e[0] for e in r.events if e[0] <= final_rev]
        want = list(range(r.start_rev, final_rev + 1))
        if revs != want:
            missing = sorted(set(want) - set(revs))[:10]
            extra = sorted(set(revs) - set(want))[:10]
            problems.append(f"watcher{r.index}: revisions {r.start_rev}..{final_rev} not each "
                            f"exactly once in order (got {len(revs)}, want {len(want)}; "
                            f"missing {missing}, unexpected {extra})")
    # Agreement between recorders, and each event against the writes.
    by_rev = {}
    for r in recorders:
        for rev, key, value, version, prev, member in r.events:
            seen = by_rev.setdefault(rev, (key, value, version, prev, f"watcher{r.index}@{member}"))
            if seen[:4] != (key, value, version, prev):
                problems.append(f"revision {rev}: watcher{r.index}@{member} saw "
                                f"{(key, value, version, prev)}, {seen[4]} saw {seen[:4]}")
    writes = {}  # value -> op
    for op in ops:
        if op.kind in ("put", "cas") and op.value:
            writes[op.value] = op
    last_value = {}
    for rev in sorted(by_rev):
        key, value, version, prev, who = by_rev[rev]
        if not key.startswith(WORKLOAD_PREFIX):
            continue  # the lease keeper's key: its own check is chaoslib/leases.py
        op = writes.get(value)
        if op is None or op.key != key:
            problems.append(f"revision {rev}: {key}={value} was never written by a client")
            continue
        if op.kind == "cas" and op.outcome == "ok" and not op.cas_ok:
            problems.append(f"revision {rev}: {key}={value} is a cas that answered 'not swapped'")
        if key in last_value and prev != last_value[key]:
            problems.append(f"revision {rev}: prev_kv of {key} is {prev}, the key held "
                            f"{last_value[key]}")
        last_value[key] = value
    seen_values = [by_rev[rev][1] for rev in by_rev
                   if by_rev[rev][0].startswith(WORKLOAD_PREFIX)]
    counts = {}
    for v in seen_values:
        counts[v] = counts.get(v, 0) + 1
    for v, n in counts.items():
        if n > 1:
            problems.append(f"value {v} written once but seen at {n} revisions")
    # The recorders start at a revision taken before any client wrote: every write is in
    # the range they cover.
    for op in ops:
        acked = op.outcome == "ok" and (op.kind == "put" or (op.kind == "cas" and op.cas_ok))
        if acked and recorders and op.value not in counts:
            problems.append(f"acknowledged {op.kind} {op.key}={op.value} never seen by a watcher")
    return problems


def start(cluster, count, start_rev, seed, log):
    recorders = [Recorder(i, cluster, start_rev, seed * 7919 + i, log) for i in range(count)]
    for r in recorders:
        r.start()
    return recorders


def finish(recorders, final_rev, deadline):
    """Lets every recorder catch up to final_rev (or the deadline), then stops them."""
    for r in recorders:
        r.finish_at(final_rev)
    for r in recorders:
        r.join(max(0.1, deadline - time.monotonic()))
    for r in recorders:
        r.stop.set()
    for r in recorders:
        r.join(5)


def current_revision(endpoint, timeout=2.0):
    """The store revision, from a linearizable read's header."""
    resp = endpoint.kv.Range(rpc_pb2.RangeRequest(key=b"k0"), timeout=timeout)
    return resp.header.revision

