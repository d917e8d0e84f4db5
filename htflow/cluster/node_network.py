"""Compute nodes of the local SLURM as Linux network namespaces on a private bridge.

``htflow cluster up --nodes N`` (N > 1) gives every slurmd a "node" of its own: a network
namespace (``ip netns add``) with one interface, ``cluster0``, the namespace end of a veth
pair whose host end is a port of a private bridge, and a private /24 address on it. The
bridge holds the subnet's first address in the root namespace, where slurmctld, munged and
the SLURM clients run; nodes reach slurmctld there and one another across the bridge. The
slurmd is started inside its namespace with its own UTS namespace (``unshare --uts``), so
``hostname`` on a node, and every job step slurmd starts there, says the node's name.

What a node does *not* get: a default route (so it has no way to any address outside the
subnet: the host's other addresses, the internet, a database), nor a mount or pid namespace
(the file system is shared, like a cluster's shared file system, and the host sees every
process). No sysctl, firewall rule or existing interface is touched; ``remove_network``
deletes exactly the namespaces, veths and bridge :func:`create_network` recorded.

Names come from the cluster's port, so two local clusters never share one: namespaces
``htf<port>-node<i>``, bridge ``htf<port>br``, veth host ends ``htf<port>v<i>``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from htflow.cluster.daemons import LocalClusterError

if TYPE_CHECKING:
    from collections.abc import Sequence

NODE_INTERFACE = "cluster0"  # the node's only link besides lo (OpenMPI's if_include names it)
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")  # /24s are taken from here
NETNS_DIR = Path("/run/netns")  # where `ip netns add` keeps its namespaces
FIRST_NODE_HOST = 11  # node i gets <subnet>.<10 + i>; the bridge is <subnet>.1


@dataclass(frozen=True)
class Node:
    """One compute node: SLURM name (= its hostname), namespace, address, veth host end."""

    name: str
    namespace: str
    address: str
    veth: str


@dataclass(frozen=True)
class NodeNetwork:
    """The bridge, its subnet and the nodes of one multi-node local cluster."""

    bridge: str
    subnet: str
    gateway: str
    nodes: tuple[Node, ...]

    def to_json(self) -> dict[str, Any]:
        """What the cluster's state file records (``down`` removes exactly this)."""
        return {**asdict(self), "nodes": [asdict(n) for n in self.nodes]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeNetwork:
        """The inverse of :meth:`to_json`."""
        return cls(
            bridge=data["bridge"],
            subnet=data["subnet"],
            gateway=data["gateway"],
            nodes=tuple(Node(**n) for n in data["nodes"]),
        )

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise LocalClusterError(f"no node {name!r} in this cluster: it has {self.node_names()}")

    def node_names(self) -> list[str]:
        """The SLURM node names, in order."""
        return [n.name for n in self.nodes]


def namespace_problem() -> str | None:
    """Why network namespaces cannot be made here (one line), or None when they can."""
    if os.geteuid() != 0:
        return "compute nodes in network namespaces need root (CAP_NET_ADMIN): run as root"
    missing = [p for p in ("ip", "unshare", "nsenter") if shutil.which(p) is None]
    if missing:
        return f"{' and '.join(missing)} not found: install iproute2 and util-linux"
    probe = f"htfprobe{os.getpid()}"
    made = _ip("netns", "add", probe)
    if made.returncode != 0:
        return f"cannot create a network namespace ({made.stderr.strip()}): needs CAP_NET_ADMIN"
    _ip("netns", "del", probe)
    return None


def names_for(port: int, count: int) -> tuple[str, list[tuple[str, str, str]]]:
    """The bridge name and (node name, namespace, veth) for each of ``count`` nodes."""
    nodes = [(f"node{i}", f"htf{port}-node{i}", f"htf{port}v{i}") for i in range(1, count + 1)]
    return f"htf{port}br", nodes


def choose_subnet(port: int) -> ipaddress.IPv4Network:
    """A /24 of 10.213.0.0/16 that overlaps no address or route of this host (tried from port)."""
    taken = _host_networks()
    subnets = list(SUBNET_POOL.subnets(new_prefix=24))
    start = port % len(subnets)
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise LocalClusterError(f"every /24 of {SUBNET_POOL} is in use on this host: free one")


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host's routes and addresses cover (default route excepted)."""
    out: list[ipaddress.IPv4Network] = []
    routes = _ip("-4", "route", "show", "table", "all").stdout.splitlines()
    addresses = _ip("-4", "-o", "addr", "show").stdout.splitlines()
    words = [line.split()[0] for line in routes if line.split()]
    words += [w for line in addresses for w in line.split()[3:4]]
    for word in words:
        if word in ("default", "broadcast", "local", "unreachable", "blackhole", "prohibit"):
            continue
        try:
            out.append(ipaddress.ip_network(word, strict=False))  # type: ignore[arg-type]
        except ValueError:
            continue
    return [n for n in out if isinstance(n, ipaddress.IPv4Network)]


def plan_network(port: int, count: int) -> NodeNetwork:
    """Names and addresses for ``count`` nodes on a free subnet (nothing is created)."""
    subnet = choose_subnet(port)
    hosts = list(subnet.hosts())
    bridge, names = names_for(port, count)
    nodes = tuple(
        Node(name, namespace, str(hosts[FIRST_NODE_HOST - 1 + i]), veth)
        for i, (name, namespace, veth) in enumerate(names)
    )
    return NodeNetwork(bridge=bridge, subnet=str(subnet), gateway=str(hosts[0]), nodes=nodes)


def create_network(network: NodeNetwork) -> None:
    """Create the bridge, the namespaces and the veth pairs (what exists already is kept)."""
    prefix = ipaddress.ip_network(network.subnet).prefixlen
    if not _link_exists(network.bridge):
        _check(_ip("link", "add", network.bridge, "type", "bridge"), "create the bridge")
        _check(
            _ip("addr", "add", f"{network.gateway}/{prefix}", "dev", network.bridge),
            "address the bridge",
        )
    _check(_ip("link", "set", network.bridge, "up"), "bring the bridge up")
    existing = set(namespaces())
    for node in network.nodes:
        if node.namespace not in existing:
            _check(_ip("netns", "add", node.namespace), f"create namespace {node.namespace}")
        if not _link_exists(node.veth):
            peer = f"{node.veth}p"
            _check(
                _ip("link", "add", node.veth, "type", "veth", "peer", "name", peer),
                f"create veth {node.veth}",
            )
            _check(_ip("link", "set", peer, "netns", node.namespace), "move the veth end")
            inside = ("netns", "exec", node.namespace, "ip")
            _check(_ip(*inside, "link", "set", peer, "name", NODE_INTERFACE), "rename the veth")
            _check(
                _ip(*inside, "addr", "add", f"{node.address}/{prefix}", "dev", NODE_INTERFACE),
                f"address {node.name}",
            )
        _check(_ip("link", "set", node.veth, "master", network.bridge), "attach the veth")
        _check(_ip("link", "set", node.veth, "up"), "bring the veth up")
        link_set = ("netns", "exec", node.namespace, "ip", "link", "set")
        _check(_ip(*link_set, "lo", "up"), f"bring lo up on {node.name}")
        _check(_ip(*link_set, NODE_INTERFACE, "up"), f"bring {node.name}'s link up")


def set_link(node: Node, up: bool) -> None:
    """Take a node's link down (a pulled cable) or up again, at the bridge's end."""
    _check(_ip("link", "set", node.veth, "up" if up else "down"), f"set {node.name}'s link")


def remove_network(network: NodeNetwork) -> None:
    """Delete the recorded veths, namespaces and bridge; stop what still runs in a namespace.

    Processes left in a node's namespace (a job step whose slurmd was killed) belong to the
    cluster and are killed by pid before the namespace goes.
    """
    existing = set(namespaces())
    for node in network.nodes:
        if _link_exists(node.veth):
            _ip("link", "del", node.veth)  # deletes the namespace end too
        if node.namespace in existing:
            kill_namespace_processes(node.namespace)
            _ip("netns", "del", node.namespace)
    if _link_exists(network.bridge):
        _ip("link", "del", network.bridge)


def kill_namespace_processes(namespace: str, sig: int = signal.SIGKILL) -> list[int]:
    """Signal every process in ``namespace`` (by pid, from ``ip netns pids``); return them."""
    pids = namespace_pids(namespace)
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
    return pids


def namespace_pids(namespace: str) -> list[int]:
    """Pids of the processes in ``namespace``."""
    listed = _ip("netns", "pids", namespace)
    return [int(p) for p in listed.stdout.split() if p.isdigit()]


def namespaces() -> list[str]:
    """Names of the host's network namespaces (``ip netns list``)."""
    return [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.split()]


def in_node(node: Node, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` on ``node``: in its network namespace, named for it.

    ``nsenter --net`` rather than ``ip netns exec``: the latter also makes a mount
    namespace with a fresh ``/sys``, where slurmd finds no ``/sys/fs/cgroup`` and stops.
    """
    set_name = 'hostname "$1" && shift && exec "$@"'
    return ["nsenter", f"--net={NETNS_DIR / node.namespace}", "unshare", "--uts",
            "sh", "-c", set_name, "sh", node.name, *argv]  # fmt: skip


def node_routes(node: Node) -> list[str]:
    """The node's IPv4 routing table, one route a line."""
    return _ip("netns", "exec", node.namespace, "ip", "-4", "route").stdout.splitlines()


def _link_exists(name: str) -> bool:
    return _ip("link", "show", name).returncode == 0


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise LocalClusterError(f"could not {what}: {result.stderr.strip() or result.args}")
