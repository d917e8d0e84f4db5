"""VASP through atomate2: protocols as data, flows for candidates, custodian with htflow's
command and walltime (see docs/vasp.md)."""
