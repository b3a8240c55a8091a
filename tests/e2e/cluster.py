"""A real cluster of etcd-compatible server processes on loopback, for end-to-end tests.

The same harness drives raftkvd and etcd (both accept etcd's flags), so every test states
etcd's behaviour and raftkvd is held to it. Each member gets free ports and its own data dir
under one temp dir; processes are always killed at close(), and the temp dir (with every
member's log) is kept when the caller says the run failed.

The binary is the `RAFTKV_E2E_BINARY` environment variable, else build/bin/raftkvd.

Security (`Cluster(..., security=Security(...))`): https client and/or peer URLs with
certificates made by scripts/gen-certs.sh (the openssl CLI) under the cluster's temp dir, and
etcdctl called with --cacert/--cert/--key (and --user when a test gives one).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BINARY = os.path.join(REPO_ROOT, "build", "bin", "raftkvd")
GEN_CERTS = os.path.join(REPO_ROOT, "scripts", "gen-certs.sh")
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"

# Short timeouts so elections and failovers take well under a second.
HEARTBEAT_MS = 20
ELECTION_MS = 200


def binary_path():
    return os.environ.get("RAFTKV_E2E_BINARY", DEFAULT_BINARY)


def is_etcd(binary):
    return os.path.basename(binary) == "etcd"


_ports_given = set()


def free_port():
    """A port nobody listens on right now (the kernel picks it), never one this process
    already handed out: the kernel may offer a just-closed port again, and a member whose
    metrics port equals its peer port cannot start."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


class CommandError(Exception):
    """etcdctl exited non-zero; the message holds its stderr."""

    def __init__(self, args, returncode, stdout, stderr):
        super().__init__(f"etcdctl {' '.join(args)} -> exit {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class Fatal(Exception):
    """Raised by a wait_until predicate to stop waiting at once."""


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value (which is returned) or time runs out."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Fatal:
            raise
        except Exception as e:  # the condition may raise while the cluster settles
            last_error = e
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}"
                               + (f" (last error: {last_error})" if last_error else ""))
        time.sleep(interval)


class Certs:
    """A CA and certificates (CommonName = name) made by scripts/gen-certs.sh in `directory`."""

    def __init__(self, directory, names, ips=""):
        self.dir = directory
        self.make(names, ips)

    def make(self, names, ips=""):
        env = dict(os.environ, CERT_IPS=ips)
        subprocess.run([GEN_CERTS, self.dir] + list(names), check=True, env=env)

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.pem")

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + "-key.pem")


class Security:
    """What a cluster's members are started with: TLS on the client and/or peer URLs
    (--client-cert-auth / --peer-client-cert-auth when asked), and extra flags
    (--auth-token-ttl, ...). etcdctl then uses the `client` certificate unless told another."""

    def __init__(self, client_tls=False, peer_tls=False, client_cert_auth=False,
                 peer_cert_auth=True, client_cert="client"):
        self.client_tls = client_tls
        self.peer_tls = peer_tls
        self.client_cert_auth = client_cert_auth
        self.peer_cert_auth = peer_cert_auth
        self.client_cert = client_cert
        self.certs = None  # made by the cluster, in its temp dir

    def flags(self):
        c = self.certs
        out = []
        if self.client_tls:
            out += ["--cert-file", c.cert("server"), "--key-file", c.key("server"),
                    "--trusted-ca-file", c.ca]
            if self.client_cert_auth:
                out.append("--client-cert-auth")
        if self.peer_tls:
            out += ["--peer-cert-file", c.cert("server"), "--peer-key-file", c.key("server"),
                    "--peer-trusted-ca-file", c.ca]
            if self.peer_cert_auth:
                out.append("--peer-client-cert-auth")
        return out

    def ctl_flags(self, cert=None):
        if not self.client_tls:
            return []
        name = self.client_cert if cert is None else cert
        if name == "":  # no client certificate at all
            return [f"--cacert={self.certs.ca}"]
        return [f"--cacert={self.certs.ca}", f"--cert={self.certs.cert(name)}",
                f"--key={self.certs.key(name)}"]


class Member:
    """One server process: its name, ports, data dir and log file."""

    def __init__(self, name, root, security=None):
        self.name = name
        self.security = security
        self.client_port = free_port()
        self.peer_port = free_port()
        self.metrics_port = free_port()
        self.data_dir = os.path.join(root, name + ".data")
        self.log_path = os.path.join(root, name + ".log")
        self.proc = None
        self.id = None  # hex member id, learned from member list

    @property
    def client_url(self):
        tls = self.security is not None and self.security.client_tls
        return f"{'https' if tls else 'http'}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self):
        tls = self.security is not None and self.security.peer_tls
        return f"{'https' if tls else 'http'}://127.0.0.1:{self.peer_port}"

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=40):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(data[-lines:])


class Cluster:
    """N members of `binary`; use as a context manager or call close()."""

    def __init__(self, size, binary=None, token="e2e", security=None, extra_flags=None):
        self.binary = binary or binary_path()
        if not os.path.exists(self.binary):
            raise FileNotFoundError(f"server binary not found: {self.binary}")
        self.root = tempfile.mkdtemp(prefix="raftkv-e2e-")
        self.token = token
        self.security = security
        if security is not None:
            security.certs = Certs(os.path.join(self.root, "certs"),
                                   ["server", "client", "root", "alice"])
        self.members = [Member(f"m{i}", self.root, security) for i in range(1, size + 1)]
        self.extra_flags = list(extra_flags or [])

    # ---- lifecycle -------------------------------------------------------------------

    def start(self, wait=True):
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            self._spawn(m, initial, "new")
        if wait:
            self.wait_healthy()
        return self

    def _flags(self, m, initial_cluster, state):
        return [
            self.binary,
            "--name", m.name,
            "--data-dir", m.data_dir,
            "--listen-client-urls", m.client_url,
            "--advertise-client-urls", m.client_url,
            "--listen-peer-urls", m.peer_url,
            "--initial-advertise-peer-urls", m.peer_url,
            "--initial-cluster", initial_cluster,
            "--initial-cluster-state", state,
            "--initial-cluster-token", self.token,
            "--heartbeat-interval", str(HEARTBEAT_MS),
            "--election-timeout", str(ELECTION_MS),
            "--listen-metrics-urls", m.metrics_url,
        ] + (self.security.flags() if self.security else []) + self.extra_flags

    def _spawn(self, m, initial_cluster, state):
        m.argv = self._flags(m, initial_cluster, state)
        log = open(m.log_path, "ab")
        log.write(f"\n=== start {' '.join(m.argv)}\n".encode())
        log.flush()
        m.proc = subprocess.Popen(m.argv, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        log.close()

    def spawn_raw(self, m, argv_override=None):
        """Starts m again with the flags it was last started with (or given ones)."""
        argv = argv_override or m.argv
        log = open(m.log_path, "ab")
        log.write(f"\n=== start {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        log.close()
        return proc

    def kill(self, m, sig=signal.SIGKILL, timeout=10):
        if m.proc is None:
            return
        if m.proc.poll() is None:
            m.proc.send_signal(sig)
            try:
                m.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()
        m.proc = None

    def restart(self, m, wait=True):
        """Starts a stopped member on its existing data dir (initial-cluster flags ignored)."""
        assert not m.running(), f"{m.name} is still running"
        m.proc = self.spawn_raw(m)
        if wait:
            self.wait_member_healthy(m)

    def add_member(self, name=None, learner=False, wait=True):
        """`member add` through the cluster, then starts the new process with state existing."""
        m = Member(name or f"m{len(self.members) + 1}", self.root, self.security)
        args = ["member", "add", m.name, f"--peer-urls={m.peer_url}"]
        if learner:
            args.append("--learner")

        def add():
            # etcd refuses changes until every member has been connected for 5 s
            # ("unhealthy cluster", its strict reconfiguration check): retry meanwhile.
            p = self.ctl(*args, check=False)
            if p.returncode != 0 and "unhealthy cluster" not in p.stderr:
                raise Fatal(f"member add failed: {p.stderr.strip()}")
            return json.loads(p.stdout) if p.returncode == 0 else None
        args.append("-w=json")
        out = wait_until(add, 15, interval=0.2, what=f"member add {m.name}")
        m.id = format(out["member"]["ID"], "x")
        names = [f"{x.get('name') or m.name}={x['peerURLs'][0]}" for x in out["members"]]
        self.members.append(m)
        self._spawn(m, ",".join(names), "existing")
        if wait:
            self.wait_member_healthy(m, serializable=learner)
        return m

    def close(self, keep_logs=False):
        for m in self.members:
            self.kill(m)
        if keep_logs:
            return self.root
        shutil.rmtree(self.root, ignore_errors=True)
        return None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close(keep_logs=exc[0] is not None)

    # ---- etcdctl ------------------------------------------------------------------------

    def running_members(self):
        return [m for m in self.members if m.running()]

    def endpoints(self, members=None):
        members = members if members is not None else self.running_members()
        return ",".join(m.client_url for m in members)

    def ctl(self, *args, members=None, json_out=False, stdin=None, timeout=15, check=True,
            command_timeout="5s", user=None, cert=None):
        """Runs etcdctl against the given members (default: all running ones), as `user`
        ("name:password") if given, with client certificate `cert` ("" for none) over TLS."""
        argv = [ETCDCTL, f"--endpoints={self.endpoints(members)}",
                f"--command-timeout={command_timeout}", "--dial-timeout=2s"]
        if self.security is not None:
            argv += self.security.ctl_flags(cert)
        if user is not None:
            argv.append(f"--user={user}")
        if json_out:
            argv.append("-w=json")
        argv += [str(a) for a in args]
        env = dict(os.environ, ETCDCTL_API="3")
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if not check:
            return subprocess.CompletedProcess(argv, p.returncode, out, err)
        if p.returncode != 0:
            raise CommandError(list(map(str, args)), p.returncode, out, err)
        if json_out:
            return json.loads(out) if out.strip().startswith("{") else _json_lines(out)
        return out

    # ---- health and leadership ----------------------------------------------------------

    def status(self, m):
        """`endpoint status -w json` of one member (its header, leader, raftTerm, ...)."""
        out = self.ctl("endpoint", "status", members=[m], json_out=True, timeout=5)
        entry = out[0] if isinstance(out, list) else out
        return entry["Status"]

    def wait_member_healthy(self, m, timeout=20, serializable=False):
        def healthy():
            if not m.running():
                raise RuntimeError(f"{m.name} exited with {m.proc.returncode if m.proc else '?'}")
            if serializable:  # a learner cannot serve linearizable reads
                self.ctl("get", "health-probe", "--consistency=s", members=[m], timeout=5)
            else:
                self.ctl("endpoint", "health", members=[m], timeout=5)
            return True
        wait_until(healthy, timeout, interval=0.1, what=f"{m.name} healthy")

    def wait_healthy(self, timeout=30):
        for m in self.running_members():
            self.wait_member_healthy(m, timeout)
        self.leader(timeout)
        self.learn_ids()

    def learn_ids(self):
        out = self.ctl("member", "list", json_out=True)
        by_name = {x.get("name"): format(x["ID"], "x") for x in out["members"]}
        for m in self.members:
            if m.name in by_name:
                m.id = by_name[m.name]
        return out

    def leader(self, timeout=15):
        """The member every running member agrees leads (waits for one)."""
        def agreed():
            leaders = {self.status(m)["leader"] for m in self.running_members()}
            if len(leaders) != 1 or 0 in leaders:
                return None
            lid = format(leaders.pop(), "x")
            for m in self.running_members():
                if self.status(m)["header"]["member_id"] == int(lid, 16):
                    m.id = lid
                    return m
            return None
        return wait_until(agreed, timeout, interval=0.1, what="an agreed leader")

    def followers(self):
        lead = self.leader()
        return [m for m in self.running_members() if m is not lead]

    def member_by_id(self, hex_id):
        for m in self.members:
            if m.id == hex_id:
                return m
        return None


def _json_lines(text):
    """Some etcdctl JSON outputs (endpoint status/health) are one array or several objects."""
    text = text.strip()
    if text.startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]
