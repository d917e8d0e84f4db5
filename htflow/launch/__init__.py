"""The contract between the single writer and the compute side: no database import allowed.

``spec``: every key htflow writes into a Firework spec. More of the launch contract (the
launch-directory layout, the feed/queue protocol, the worker) moves here with issue 13.
"""
