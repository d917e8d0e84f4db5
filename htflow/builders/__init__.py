"""Builders: task documents in the JobStore → materials documents (see docs/ml_access.md)."""

from __future__ import annotations

from htflow.builders.materials import BuildReport, build_materials
from htflow.builders.references import missing_references

__all__ = ["BuildReport", "build_materials", "missing_references"]
