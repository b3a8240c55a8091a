"""How members are placed on the network and how the nemesis partitions them.

NetnsNetwork (the default when `ip netns add` works, i.e. root with CAP_SYS_ADMIN and
CAP_NET_ADMIN): every member runs in its own network namespace with one veth leg on a bridge
in the harness's namespace, so each member has its own IP and the harness (the clients)
reaches all of them. A partition between members a and b is a pair of `blackhole` routes,
one in a's namespace towards b and one in b's towards a: packets between them vanish in both
directions (symmetric), while the clients keep reaching both. No iptables needed.

LoopbackNetwork (fallback): every member on 127.0.0.1 with its own ports; partitions are not
possible (the nemesis leaves them out and the summary says so).
"""

import fcntl
import ipaddress
import os
import socket
import subprocess
import tempfile

NAME_PREFIX = "rkc"  # namespaces rkc<run>-<slot>, links rkc<run>b / v<slot> / p<slot>
SUBNET_BASE = "10.231"


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def netns_available():
    """Whether this process may create network namespaces and veth pairs."""
    probe = f"{NAME_PREFIX}probe{os.getpid() % 100000}"
    try:
        if _ip("netns", "add", probe, check=False).returncode != 0:
            return False
        ok = _ip("link", "add", probe[:15], "type", "bridge", check=False).returncode == 0
        if ok:
            _ip("link", "del", probe[:15], check=False)
        return ok
    except FileNotFoundError:
        return False
    finally:
        _ip("netns", "del", probe, check=False)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def cleanup_stale():
    """Removes namespaces and bridges left by harness runs whose process is gone (a run
    killed by a test timeout cannot clean up after itself)."""
    out = _ip("netns", "list", check=False).stdout.split("\n")
    out += [l.split(":")[1].strip().split("@")[0] for l in
            _ip("-o", "link", "show", check=False).stdout.split("\n") if l.count(":") >= 2]
    for name in out:
        name = name.split(" ")[0]
        if not name.startswith(NAME_PREFIX) or name.startswith(NAME_PREFIX + "probe"):
            continue
        digits = ""
        for c in name[len(NAME_PREFIX):]:
            if not c.isdigit():
                break
            digits += c
        if not digits or _pid_alive(int(digits)):
            continue
        if "-" in name:
            _ip("netns", "del", name, check=False)
        elif name.endswith("b"):
            _ip("link", "del", name, check=False)


class NetnsNetwork:
    kind = "netns"
    can_partition = True

    def __init__(self):
        self.run = str(os.getpid())
        self.bridge = f"{NAME_PREFIX}{self.run}b"
        self.hosts = {}  # slot -> ip
        self.blocked = set()  # ordered pairs (a, b): a's namespace drops packets to b
        cleanup_stale()
        self._make_bridge()

    def _make_bridge(self):
        # Two runs at once (ctest -j) must not pick the same subnet: allocate under a lock.
        lock_path = os.path.join(tempfile.gettempdir(), "raftkv-chaos-netns.lock")
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = _ip("-o", "-4", "addr", "show", check=False).stdout
            for third in range(256):
                prefix = f"{SUBNET_BASE}.{third}."
                if prefix not in used:
                    break
            else:
                raise RuntimeError("no free 10.231.x.0/24 subnet for the chaos bridge")
            self.prefix = prefix
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", prefix + "1/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")

    def namespace(self, slot):
        return f"{NAME_PREFIX}{self.run}-{slot}"

    def add_host(self, slot):
        """Creates member `slot`'s namespace; returns its IP address."""
        ns = self.namespace(slot)
        ip = f"{self.prefix}{10 + slot}"
        outer, inner = f"{NAME_PREFIX}{self.run}v{slot}", f"{NAME_PREFIX}{self.run}p{slot}"
        _ip("netns", "add", ns)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        _ip("link", "set", inner, "netns", ns)
        _ip("-n", ns, "link", "set", inner, "name", "eth0")
        _ip("-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        self.hosts[slot] = ip
        return ip

    def remove_host(self, slot):
        self.blocked = {p for p in self.blocked if slot not in p}
        _ip("netns", "del", self.namespace(slot), check=False)  # takes its veth pair along
        self.hosts.pop(slot, None)

    def ports(self, slot):
        return 2379, 2380  # every member has its own address: etcd's usual ports

    def wrap(self, slot, argv):
        return ["ip", "netns", "exec", self.namespace(slot), *argv]

    def _route(self, op, a, b):
        _ip("-n", self.namespace(a), "route", op, "blackhole", self.hosts[b] + "/32",
            check=(op == "add"))

    def cut(self, a, b):
        """Symmetric: nothing passes between members a and b until heal."""
        for x, y in ((a, b), (b, a)):
            if (x, y) not in self.blocked and x in self.hosts and y in self.hosts:
                self._route("add", x, y)
                self.blocked.add((x, y))

    def partition(self, groups):
        """Cuts every pair of members that are in different groups; returns the pairs."""
        pairs = []
        for i, g in enumerate(groups):
            for h in groups[i + 1:]:
                for a in g:
                    for b in h:
                        self.cut(a, b)
                        pairs += [(a, b), (b, a)]
        return pairs

    def uncut(self, pairs):
        for x, y in pairs:
            if (x, y) in self.blocked:
                if x in self.hosts and y in self.hosts:
                    self._route("del", x, y)
                self.blocked.discard((x, y))

    def heal(self):
        for x, y in sorted(self.blocked):
            if x in self.hosts and y in self.hosts:
                self._route("del", x, y)
        self.blocked.clear()

    def close(self):
        for slot in list(self.hosts):
            self.remove_host(slot)
        _ip("link", "del", self.bridge, check=False)


class LoopbackNetwork:
    kind = "loopback"
    can_partition = False

    def __init__(self):
        self.hosts = {}
        self.port_of = {}

    def add_host(self, slot):
        self.port_of[slot] = (_free_port(), _free_port())
        self.hosts[slot] = "127.0.0.1"
        return "127.0.0.1"

    def remove_host(self, slot):
        self.hosts.pop(slot, None)

    def ports(self, slot):
        return self.port_of[slot]

    def wrap(self, slot, argv):
        return list(argv)

    def partition(self, groups):
        raise RuntimeError("partitions need network namespaces (not available here)")

    def heal(self):
        pass

    def close(self):
        pass


_ports_given = set()


def _free_port():
    # Never a port already handed out: the kernel may offer a just-closed one again.
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def make_network(mode):
    """mode: auto | netns | loopback."""
    if mode == "netns" or (mode == "auto" and netns_available()):
        return NetnsNetwork()
    return LoopbackNetwork()
