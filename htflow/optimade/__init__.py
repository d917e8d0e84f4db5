"""The OPTIMADE API (``htflow optimade serve``): the materials collection as OPTIMADE v1.

Modules: :mod:`~htflow.optimade.fields` (which OPTIMADE field is which materials field),
:mod:`~htflow.optimade.entries` (a materials document as a ``structures`` entry),
:mod:`~htflow.optimade.filters` (an OPTIMADE filter as htflow's query),
:mod:`~htflow.optimade.collection` (the ``structures`` collection: reads the store on every
request), :mod:`~htflow.optimade.references`, :mod:`~htflow.optimade.auth` (HTTP basic
against the dashboard's users), :mod:`~htflow.optimade.app` (optimade-python-tools'
``create_app``) and :mod:`~htflow.optimade.server` (uvicorn). Read-only. See
docs/optimade.md.
"""
