"""VASP through atomate2: protocols as data, flows for candidates, custodian with htflow's
command and walltime (see docs/vasp.md)."""

from htflow.vasp.flows import WORKFLOWS, describe_vasp_flow, vasp_flow, vasp_makers

__all__ = ["WORKFLOWS", "describe_vasp_flow", "vasp_flow", "vasp_makers"]
