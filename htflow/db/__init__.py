"""Storage behind one interface: a ``mongodb://`` URI in production, an embedded store otherwise.

Contract (implemented in ``htflow.db.backends``):

- ``get_launchpad(uri=None) -> fireworks.LaunchPad``
- ``get_jobstore(uri=None) -> jobflow.JobStore`` (docs store + a data store for large objects)
- ``writer_lock(uri=None)``: context manager held by the one writer (the agent)

``uri=None`` means ``get_settings().db_uri``, and when that is None the embedded store in
``get_settings().home / "db"``.
"""
