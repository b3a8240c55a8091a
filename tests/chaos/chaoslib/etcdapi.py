"""A thin etcd v3 gRPC client for the harness: one channel per member, explicit deadlines,
no retries (the harness must see every error to record an operation's outcome honestly).

KV and Maintenance use the stubs shipped with python3-etcd3. Its protos predate learners, so
the Cluster calls (MemberAdd with isLearner, MemberPromote, MemberRemove, MemberList) are
encoded by hand here, with the field numbers of etcd 3.4's rpc.proto.
"""

import grpc
from etcd3.etcdrpc import rpc_pb2, rpc_pb2_grpc

# Fast reconnects: a restarted member must be usable again within a fraction of a second,
# not after gRPC's default backoff of up to two minutes.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 2000),  # also the connect timeout
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.enable_retries", 0),
]


# ---- minimal protobuf wire coding for the Cluster messages ----

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_varint(num, n):
    return _varint(num << 3) + _varint(n)


def _field_bytes(num, data):
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def decode_fields(buf):
    """Decodes one message level into {field number: [values]} (ints or bytes)."""
    fields, i = {}, 0

    def read_varint():
        nonlocal i
        shift = n = 0
        while True:
            b = buf[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(buf):
        key = read_varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            val = read_varint()
        elif wire == 2:
            ln = read_varint()
            val = bytes(buf[i:i + ln])
            i += ln
        elif wire == 1:
            val, i = bytes(buf[i:i + 8]), i + 8
        elif wire == 5:
            val, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        fields.setdefault(num, []).append(val)
    return fields


def _decode_member(buf):
    f = decode_fields(buf)
    return {
        "id": f.get(1, [0])[0],
        "name": f.get(2, [b""])[0].decode(),
        "peer_urls": [u.decode() for u in f.get(3, [])],
        "client_urls": [u.decode() for u in f.get(4, [])],
        "is_learner": bool(f.get(5, [0])[0]),
    }


def _members_of(resp, field):
    return [_decode_member(m) for m in decode_fields(resp).get(field, [])]


class Endpoint:
    """One member's client URL."""

    def __init__(self, host, port):
        self.target = f"{host}:{port}"
        self.channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        # Without a subscriber, grpcio's sync stack polls a connecting channel only while an
        # RPC waits on it: a connection attempt begun by a fail-fast RPC is then never seen
        # to complete, and the channel stays unusable (observed with grpcio 1.51). A
        # connectivity subscription keeps a polling thread per channel.
        self.channel.subscribe(lambda state: None, try_to_connect=True)
        self.kv = rpc_pb2_grpc.KVStub(self.channel)
        self.maintenance = rpc_pb2_grpc.MaintenanceStub(self.channel)

    def close(self):
        self.channel.close()

    # ---- KV ----

    def get(self, key, timeout, serializable=False):
        """Returns the value (bytes) or None if the key is absent."""
        resp = self.kv.Range(rpc_pb2.RangeRequest(key=key, serializable=serializable),
                             timeout=timeout)
        return resp.kvs[0].value if resp.kvs else None

    def put(self, key, value, timeout):
        self.kv.Put(rpc_pb2.PutRequest(key=key, value=value), timeout=timeout)

    def cas(self, key, expected, value, timeout):
        """Compare-and-set in one Txn: put `value` iff the current value equals `expected`
        (an absent key equals nothing). Returns whether the swap happened."""
        cmp = rpc_pb2.Compare(result=rpc_pb2.Compare.EQUAL, target=rpc_pb2.Compare.VALUE,
                              key=key, value=expected)
        put = rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=key, value=value))
        resp = self.kv.Txn(rpc_pb2.TxnRequest(compare=[cmp], success=[put]), timeout=timeout)
        return resp.succeeded

    def status(self, timeout):
        """(member id, leader id, raft term, raft index) as this member sees them."""
        r = self.maintenance.Status(rpc_pb2.StatusRequest(), timeout=timeout)
        return r.header.member_id, r.leader, r.raftTerm, r.raftIndex

    # ---- Cluster (hand-coded) ----

    def _cluster_call(self, method, request, timeout):
        call = self.channel.unary_unary(f"/etcdserverpb.Cluster/{method}",
                                        request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        return call(request, timeout=timeout)

    def member_list(self, timeout):
        return _members_of(self._cluster_call("MemberList", b"", timeout), 2)

    def member_add(self, peer_url, is_learner, timeout):
        """Returns (the new member, the members right after the add). The latter comes from
        the same answer, as etcdctl does: a separate MemberList may be served by a member
        that has not applied recent changes yet."""
        req = _field_bytes(1, peer_url.encode()) + (_field_varint(2, 1) if is_learner else b"")
        resp = decode_fields(self._cluster_call("MemberAdd", req, timeout))
        return _decode_member(resp[2][0]), [_decode_member(m) for m in resp.get(3, [])]

    def member_remove(self, member_id, timeout):
        self._cluster_call("MemberRemove", _field_varint(1, member_id), timeout)

    def member_promote(self, member_id, timeout):
        self._cluster_call("MemberPromote", _field_varint(1, member_id), timeout)
