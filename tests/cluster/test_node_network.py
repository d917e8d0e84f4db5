"""The namespaced nodes' plan: names, a subnet clear of the host's, the record `down` reads.

Pure logic (no namespace is made); the real network is exercised in test_multinode.py.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import pytest

from htflow.cluster import node_network
from htflow.cluster.local_slurm import start_node
from htflow.cluster.node_network import Node, NodeNetwork, choose_subnet, in_node, plan_network
from htflow.exceptions import InputError

if TYPE_CHECKING:
    from pathlib import Path


def test_subnet_avoids_every_network_of_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = ipaddress.IPv4Network("10.213.0.0/16")
    preferred = list(pool.subnets(new_prefix=24))[19817 % 256]
    taken = [preferred, ipaddress.IPv4Network("10.213.0.0/17")]  # a wide route over half
    monkeypatch.setattr(node_network, "_host_networks", lambda: taken)
    chosen = choose_subnet(19817)
    assert not any(chosen.overlaps(t) for t in taken)
    assert chosen.subnet_of(pool)
    monkeypatch.setattr(node_network, "_host_networks", lambda: [pool])
    with pytest.raises(node_network.LocalClusterError, match="in use on this host"):
        choose_subnet(19817)


def test_plan_names_addresses_and_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_network, "_host_networks", list)
    network = plan_network(19817, 3)
    subnet = ipaddress.IPv4Network(network.subnet)
    assert network.bridge == "htf19817br"
    assert network.gateway == str(subnet.network_address + 1)
    assert [n.name for n in network.nodes] == ["node1", "node2", "node3"]
    assert [n.namespace for n in network.nodes] == [f"htf19817-node{i}" for i in (1, 2, 3)]
    assert [n.address for n in network.nodes] == [
        str(subnet.network_address + 10 + i) for i in (1, 2, 3)
    ]
    # Interface names fit the kernel's 15 characters, the veth's peer name included.
    assert all(len(f"{n.veth}p") <= 15 for n in network.nodes)
    assert NodeNetwork.from_json(network.to_json()) == network
    with pytest.raises(node_network.LocalClusterError, match="no node 'node9'"):
        network.node("node9")


def test_a_node_command_enters_its_namespace_with_its_own_hostname() -> None:
    node = Node("node2", "htf1-node2", "10.213.1.12", "htf1v2")
    argv = in_node(node, ["slurmd", "-f", "/x/slurm.conf"])
    assert argv[:4] == ["nsenter", "--net=/run/netns/htf1-node2", "unshare", "--uts"]
    assert argv[-4:] == ["node2", "slurmd", "-f", "/x/slurm.conf"]


def test_starting_a_node_a_cluster_does_not_have_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no namespaced node 'node2'"):
        start_node("node2", state_dir=tmp_path)
