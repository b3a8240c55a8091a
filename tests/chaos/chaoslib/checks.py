"""End-of-run checks: the history file, lost acknowledged writes, convergence of members,
and the linearizability checker (raftkv-check-history, built from tests/chaos/)."""

import subprocess
import time

import grpc

SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/+=")


def encode_field(s):
    """Percent-encodes one history field (tests/chaos/README.md, "History format")."""
    if s == "":
        return "-"
    return "".join(chr(b) if b in SAFE else f"%{b:02X}" for b in s.encode())


def format_op(op):
    ret = "inf" if op.outcome == "unknown" else str(op.ret)
    read = "~" if op.read is None else encode_field(op.read)
    return " ".join(["op", str(op.client), op.kind, encode_field(op.key),
                     encode_field(op.value), encode_field(op.expected), str(op.call), ret,
                     op.outcome, read, "true" if op.cas_ok else "false"])


def write_history(path, ops, header_lines=()):
    with open(path, "w") as f:
        for line in header_lines:
            f.write(f"# {line}\n")
        for op in ops:
            f.write(format_op(op) + "\n")


def _effective_write(op):
    """Whether `op` may have set its key to op.value."""
    if op.kind == "put":
        return op.outcome in ("ok", "unknown")
    if op.kind == "cas":
        return op.outcome == "unknown" or (op.outcome == "ok" and op.cas_ok)
    return False


def lost_writes(ops, final):
    """Acknowledged writes that the final state contradicts. `final`: key -> value read at
    the end (None = absent). A write acknowledged after the write whose value survived had
    completed must have replaced it, so the surviving value proves the later write lost.
    Returns human-readable problems (empty = none)."""
    problems = []
    for key, value in final.items():
        acked = [o for o in ops if o.key == key and _effective_write(o) and o.outcome == "ok"]
        if value is None:
            if acked:
                problems.append(f"key {key} is absent at the end, but {len(acked)} writes "
                                f"were acknowledged, e.g. {acked[-1].value!r}")
            continue
        writers = [o for o in ops if o.key == key and _effective_write(o) and o.value == value]
        if not writers:
            problems.append(f"key {key} ends with {value!r}, which no client wrote")
            continue
        w = writers[0]
        if w.outcome != "ok":
            continue  # an unknown write may take effect at any time after its call
        later = [a for a in acked if a.call > w.ret]
        if later:
            a = max(later, key=lambda o: o.call)
            problems.append(f"key {key} ends with {value!r} (written by client {w.client}), "
                            f"but the write of {a.value!r} by client {a.client}, acknowledged "
                            f"and begun after that one returned, is lost")
    return problems


def read_all(member, keys, timeout=1.0):
    """Serializable (local) reads of every key on one member: key -> value or None."""
    out = {}
    for k in keys:
        v = member.endpoint.get(k.encode(), timeout, serializable=True)
        out[k] = None if v is None else v.decode()
    return out


def wait_converged(cluster, keys, deadline):
    """Polls every member's local state until all agree (followers may still be applying).
    Returns (converged, {member name: state or error})."""
    states = {}
    while True:
        states = {}
        for m in cluster.all():
            try:
                states[m.name] = read_all(m, keys)
            except grpc.RpcError as e:
                states[m.name] = f"error: {e.code().name}"
        distinct = {repr(s) for s in states.values()}
        if len(distinct) == 1 and not isinstance(next(iter(states.values())), str):
            return True, states
        if time.monotonic() > deadline:
            return False, states
        time.sleep(0.3)


def wait_healthy(cluster, deadline, log):
    """Every member answers Status, all name the same leader, and every voter serves a
    linearizable read. Returns the leader or None."""
    last = "none"
    while time.monotonic() < deadline:
        leaders = set()
        ok = True
        for m in cluster.all():
            try:
                mid, leader, _, _ = m.endpoint.status(0.5)
                m.member_id = m.member_id or mid
                leaders.add(leader)
            except grpc.RpcError as e:
                ok = False
                last = f"{m.name}: {e.code().name} {e.details()}"
        if not ok:
            pass
        elif len(leaders) != 1 or 0 in leaders:
            last = f"leaders seen: {sorted(leaders)}"
        if ok and len(leaders) == 1 and 0 not in leaders:
            try:
                for m in cluster.voters():
                    m.endpoint.get(b"chaos-health", 1.0)
                return cluster.by_id(leaders.pop())
            except grpc.RpcError as e:
                last = f"{m.name}: read: {e.code().name} {e.details()}"
        time.sleep(0.3)
    log(f"cluster not healthy before the deadline; last problem: {last}")
    return None


def run_checker(checker, history_path, out_path, timeout):
    """Runs raftkv-check-history; returns (verdict, output)."""
    try:
        p = subprocess.run([checker, "--quiet", history_path], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "unknown", "checker timed out"
    with open(out_path, "w") as f:
        f.write(p.stdout + p.stderr)
    verdict = {0: "linearizable", 1: "non-linearizable", 3: "unknown"}.get(p.returncode,
                                                                            "checker-error")
    return verdict, p.stdout + p.stderr
