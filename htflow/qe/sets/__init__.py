"""Input sets for pw.x: protocols as data, pseudo family tables and the input generator."""

from __future__ import annotations

from htflow.qe.sets.generators import PwInputGenerator
from htflow.qe.sets.protocol import Protocol, available_protocols, load_protocol

__all__ = ["Protocol", "PwInputGenerator", "available_protocols", "load_protocol"]
