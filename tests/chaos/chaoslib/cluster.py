"""A cluster of real member processes (etcd or raftkvd, same flags) on a Network.

Processes are started by one long-lived launcher thread: each member gets
`setpriv --pdeathsig KILL` so that it dies with the harness even when the harness is killed
(a test timeout), and the "parent" the kernel watches for that is the thread that forked it.
"""

import os
import queue
import shutil
import signal
import subprocess
import threading
import time

import grpc

from . import etcdapi

TOKEN = "raftkv-chaos"
GEN_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                         "scripts", "gen-certs.sh")
# Member slots a peer certificate covers (its IP SANs): more than any run adds.
CERT_SLOTS = 64


class Proc:
    """A member process started with posix_spawn. Not subprocess.Popen: fork() runs gRPC's
    fork handlers, and a fork while the harness's gRPC channels are connecting leaves some of
    them unable to ever connect (observed with grpcio 1.51); posix_spawn (vfork) runs none."""

    def __init__(self, argv, log_path):
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        exe = shutil.which(argv[0]) or argv[0]
        self.pid = os.posix_spawn(exe, argv, os.environ, file_actions=actions)
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self):
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class Launcher:
    def __init__(self):
        self.requests = queue.Queue()
        self.pdeathsig = shutil.which("setpriv") is not None
        self.thread = threading.Thread(target=self._loop, name="launcher", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            argv, log_path, reply = self.requests.get()
            try:
                reply.put(Proc(argv, log_path))
            except Exception as e:  # reported to the caller
                reply.put(e)

    def start(self, argv, log_path):
        if self.pdeathsig:
            argv = ["setpriv", "--pdeathsig", "KILL", "--", *argv]
        reply = queue.Queue()
        self.requests.put((argv, log_path, reply))
        result = reply.get()
        if isinstance(result, Exception):
            raise result
        return result


class Member:
    def __init__(self, slot, name, ip, client_port, peer_port, data_dir, log_path,
                 peer_scheme="http"):
        self.slot, self.name, self.ip = slot, name, ip
        self.client_url = f"http://{ip}:{client_port}"
        self.peer_url = f"{peer_scheme}://{ip}:{peer_port}"
        self.client_port = client_port
        self.data_dir, self.log_path = data_dir, log_path
        self.argv = None
        self.proc = None
        self.paused = False
        self.member_id = 0
        self.is_learner = False
        self.killed = False  # by the harness: exiting is then expected
        self.exits = []  # exit statuses of exits the harness did not cause (crashes)
        self.endpoint = etcdapi.Endpoint(ip, client_port)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self):
        return self.name


class Cluster:
    def __init__(self, binary, network, work_dir, size, heartbeat_ms=50, election_ms=500,
                 snapshot_count=200, peer_tls=False):
        self.binary, self.net, self.work_dir = binary, network, work_dir
        self.size = size
        self.timing = ["--heartbeat-interval", str(heartbeat_ms),
                       "--election-timeout", str(election_ms),
                       "--snapshot-count", str(snapshot_count)]
        self.peer_flags = self._peer_tls() if peer_tls else []
        self.launcher = Launcher()
        self.members = {}  # slot -> Member (current members, learners included)
        self.next_slot = 0
        self.lock = threading.Lock()  # guards `members` against the clients' lookups

    def _peer_tls(self):
        """TLS between members with client certificates required (--peer-client-cert-auth):
        one CA and one member certificate valid for every address a slot can get."""
        certs = os.path.join(self.work_dir, "certs")
        prefix = getattr(self.net, "prefix", None)
        ips = ",".join(f"{prefix}{10 + s}" for s in range(CERT_SLOTS)) if prefix else ""
        subprocess.run([GEN_CERTS, certs, "member"], check=True,
                       env=dict(os.environ, CERT_IPS=ips))
        return ["--peer-cert-file", os.path.join(certs, "member.pem"),
                "--peer-key-file", os.path.join(certs, "member-key.pem"),
                "--peer-trusted-ca-file", os.path.join(certs, "ca.pem"),
                "--peer-client-cert-auth"]

    # ---- lifecycle ----

    def _new_member(self):
        slot = self.next_slot
        self.next_slot += 1
        ip = self.net.add_host(slot)
        client_port, peer_port = self.net.ports(slot)
        name = f"m{slot}"
        return Member(slot, name, ip, client_port, peer_port,
                      os.path.join(self.work_dir, name + ".data"),
                      os.path.join(self.work_dir, name + ".log"),
                      peer_scheme="https" if self.peer_flags else "http")

    def _argv(self, m, initial_cluster, state):
        return self.net.wrap(m.slot, [
            self.binary, "--name", m.name, "--data-dir", m.data_dir,
            "--listen-client-urls", m.client_url, "--advertise-client-urls", m.client_url,
            "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
            "--initial-cluster-token", TOKEN, *self.timing, *self.peer_flags])

    def start_new(self):
        new = [self._new_member() for _ in range(self.size)]
        initial = ",".join(f"{m.name}={m.peer_url}" for m in new)
        for m in new:
            m.argv = self._argv(m, initial, "new")
            self.members[m.slot] = m
            self._spawn(m)

    def _spawn(self, m):
        self.note_exit(m)
        m.proc = self.launcher.start(m.argv, m.log_path)
        m.paused = m.killed = False

    def note_exit(self, m):
        """Records it if m's process ended without the harness killing it."""
        if m.proc is not None and not m.killed and m.proc.poll() is not None:
            m.exits.append(m.proc.returncode)
            m.killed = True  # recorded once

    def kill(self, m):
        self.note_exit(m)
        if m.running:
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait()
        m.paused = False
        m.killed = True

    def restart(self, m):
        """Restarts a killed member with its data dir (its initial-cluster flags are then
        ignored, as etcd does)."""
        if not m.running and m.slot in self.members:
            self._spawn(m)

    def unexpected_exits(self):
        """{member name: [exit statuses]} of current members that exited on their own."""
        for m in self.all():
            self.note_exit(m)
        return {m.name: m.exits for m in self.all() if m.exits}

    def pause(self, m):
        if m.running and not m.paused:
            m.proc.send_signal(signal.SIGSTOP)
            m.paused = True

    def resume(self, m):
        if m.running and m.paused:
            m.proc.send_signal(signal.SIGCONT)
        m.paused = False

    def stop_all(self):
        for m in list(self.members.values()):
            self.kill(m)
            m.endpoint.close()

    # ---- views ----

    def voters(self):
        with self.lock:
            return [m for m in self.members.values() if not m.is_learner]

    def all(self):
        with self.lock:
            return list(self.members.values())

    def by_id(self, member_id):
        for m in self.all():
            if m.member_id == member_id:
                return m
        return None

    def leader(self, timeout=0.3):
        """The member most reachable members name as leader (highest term wins), or None."""
        best = None
        for m in self.all():
            if not m.running or m.paused:
                continue
            try:
                mid, leader, term, _ = m.endpoint.status(timeout)
            except grpc.RpcError:
                continue
            m.member_id = m.member_id or mid
            if leader and (best is None or term > best[0]):
                best = (term, leader)
        return self.by_id(best[1]) if best else None

    def learn_ids(self, deadline):
        """Fills in every member's id (from its own Status)."""
        while time.monotonic() < deadline:
            missing = [m for m in self.all() if not m.member_id]
            if not missing:
                return True
            for m in missing:
                try:
                    m.member_id = m.endpoint.status(0.5)[0]
                except grpc.RpcError:
                    pass
            time.sleep(0.1)
        return False

    # ---- membership (thesis §4.2.1: learners catch up before they get a vote) ----

    def _any_call(self, fn, timeout=2.0):
        """Tries a Cluster call on every reachable voter until one answers."""
        last = None
        for m in self.voters():
            if not m.running or m.paused:
                continue
            try:
                return fn(m.endpoint, timeout)
            except grpc.RpcError as e:
                last = e
        raise last or RuntimeError("no reachable voter")

    def add_learner(self):
        m = self._new_member()
        try:
            info, members = self._any_call(lambda ep, t: ep.member_add(m.peer_url, True, t))
        except Exception:
            self.net.remove_host(m.slot)
            raise
        m.member_id, m.is_learner = info["id"], True
        names = {x.peer_url: x.name for x in self.all()}
        names[m.peer_url] = m.name

        def entry(p):
            url = p["peer_urls"][0]
            return f"{names.get(url) or p['name'] or 'id%x' % p['id']}={url}"
        initial = ",".join(entry(p) for p in members if p["peer_urls"])
        m.argv = self._argv(m, initial, "existing")
        with self.lock:
            self.members[m.slot] = m
        self._spawn(m)
        return m

    def promote(self, m):
        self._any_call(lambda ep, t: ep.member_promote(m.member_id, t))
        m.is_learner = False

    def remove(self, m):
        self._any_call(lambda ep, t: ep.member_remove(m.member_id, t))
        self.forget(m)

    def forget(self, m):
        """The harness's side of a removal the cluster has made: m is no longer run."""
        with self.lock:
            del self.members[m.slot]
        self.kill(m)
        m.endpoint.close()
        self.net.remove_host(m.slot)

    def removed_meanwhile(self, m):
        """Whether the cluster's member list no longer has m. A MemberRemove whose answer timed
        out on one voter, then got an error from the next, may still commit: the member then
        applies its own removal and exits by itself with status 0."""
        try:
            members = self._any_call(lambda ep, t: ep.member_list(t))
        except Exception:
            return False
        return all(x["id"] != m.member_id for x in members)
