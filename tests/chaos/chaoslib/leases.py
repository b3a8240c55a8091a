"""The lease property under faults: a key attached to a lease that the client kept alive
never vanishes.

A LeaseKeeper thread grants a lease (TTL `ttl` s), attaches a key to it, and keeps it alive
through whichever member answers (a follower forwards to the leader). Every successful
keep-alive sent at client time t promises the lease lives until at least t + TTL (the server
renews on receipt, after t). The keeper also reads the key (linearizable) now and then: a read
that returned "absent" before the promise ran out is a violation. When faults make the
keeper lose its lease for real (no keep-alive succeeded for a whole TTL, so the promise
lapsed, or a keep-alive answered TTL 0 after a lapse), it starts a new epoch: a new lease
and a new key. At the end every epoch's promise is checked once more against a final read.
"""

import threading
import time

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc


class LeaseKeeper(threading.Thread):
    def __init__(self, cluster, stop, log, ttl=4, timeout=1.0):
        super().__init__(name="lease-keeper", daemon=True)
        self.cluster, self.stop, self.log = cluster, stop, log
        self.ttl, self.timeout = ttl, timeout
        self.epoch = 0
        self.lease = None     # current lease id
        self.key = None
        self.promise = 0.0    # monotonic time until which the current lease must live
        self.violations = []
        self.kept = 0         # successful keep-alives
        self.checked = 0      # reads of a held key
        self.epochs = 0
        self._rr = 0

    def _endpoint(self):
        members = [m for m in self.cluster.voters() if m.endpoint is not None]
        if not members:
            return None
        self._rr += 1
        return members[self._rr % len(members)].endpoint

    def _new_epoch(self, ep):
        lease_stub = rpc_pb2_grpc.LeaseStub(ep.channel)
        sent = time.monotonic()
        g = lease_stub.LeaseGrant(rpc_pb2.LeaseGrantRequest(TTL=self.ttl), timeout=self.timeout)
        self.epoch += 1
        key = f"lease-held-{self.epoch}".encode()
        ep.kv.Put(rpc_pb2.PutRequest(key=key, value=b"held", lease=g.ID), timeout=self.timeout)
        # The grant started the TTL no earlier than `sent`.
        self.lease, self.key, self.promise = g.ID, key, sent + g.TTL
        self.epochs += 1
        self.log(f"lease keeper: epoch {self.epoch} lease {g.ID:x} key {key.decode()}")

    def _keep_alive(self, ep):
        lease_stub = rpc_pb2_grpc.LeaseStub(ep.channel)
        sent = time.monotonic()
        resps = lease_stub.LeaseKeepAlive(iter([rpc_pb2.LeaseKeepAliveRequest(ID=self.lease)]),
                                          timeout=self.timeout)
        for r in resps:
            if r.TTL > 0:
                self.promise = max(self.promise, sent + r.TTL)
                self.kept += 1
                return True
            return False
        return None  # the stream ended without an answer: unknown

    def _check(self, ep):
        call = time.monotonic()
        promise = self.promise  # a promise made before the read started
        r = ep.kv.Range(rpc_pb2.RangeRequest(key=self.key), timeout=self.timeout)
        ret = time.monotonic()
        self.checked += 1
        if not r.kvs and ret < promise:
            self.violations.append(
                f"{self.key.decode()} (lease {self.lease:x}) absent in a read at "
                f"[{call:.3f}, {ret:.3f}] while kept alive until {promise:.3f}")

    def run(self):
        while not self.stop.is_set():
            ep = self._endpoint()
            if ep is None:
                time.sleep(0.1)
                continue
            try:
                if self.lease is None or time.monotonic() > self.promise:
                    # (Re)start: the previous lease may have expired legitimately.
                    self._new_epoch(ep)
                elif self._keep_alive(ep) is False:
                    if time.monotonic() < self.promise:
                        self.violations.append(
                            f"lease {self.lease:x} reported expired (TTL 0) while kept alive "
                            f"until {self.promise:.3f}")
                    self.lease = None
                    continue
                self._check(ep)
            except (grpc.RpcError, ValueError):
                pass
            time.sleep(self.ttl / 6)

    def final_check(self, endpoint):
        """After healing: the current lease's key is still there if the promise holds."""
        if self.lease is None:
            return
        try:
            self._keep_alive(endpoint)
            self._check(endpoint)
        except grpc.RpcError as e:
            self.log(f"lease keeper: final check failed: {e}")

    def summary(self):
        return (f"lease epochs={self.epochs} keep-alives={self.kept} checks={self.checked} "
                f"violations={len(self.violations)}")
