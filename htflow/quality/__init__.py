"""Quality of derived properties: self-checks, verification records and quality levels.

Pure functions over task and materials documents; no database access (the builders call
them). See :mod:`htflow.quality.schema` for what a quality value is.
"""
