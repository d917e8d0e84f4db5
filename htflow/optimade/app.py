"""The OPTIMADE app: optimade-python-tools' own server, its ``structures`` over htflow's store.

:func:`create_optimade_app` calls optimade's ``create_app`` with htflow's provider, the
``_htflow_`` provider fields and the aliases of :mod:`htflow.optimade.fields`, and without
test data. Its ``structures`` collection is then replaced by
:class:`~htflow.optimade.collection.MaterialsCollection`, which reads the materials
collection on every request. ``links`` (none) and ``references``
(:mod:`htflow.optimade.references`) live in optimade's in-memory (mongomock) backend,
private to the app.
"""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from typing import TYPE_CHECKING

from htflow.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from htflow.dashboard.users import UserStore
    from htflow.optimade.collection import MaterialsReader

PAGE_LIMIT = 20  # entries per page when the client does not say
PAGE_LIMIT_MAX = 500  # a larger page_limit is refused (403, as optimade does)
LOG_DIR_ENV = "OPTIMADE_LOG_DIR"


def log_dir() -> str:
    """``<htflow home>/optimade/logs``: where optimade's own log file goes."""
    return str(get_settings().home / "optimade" / "logs")


def create_optimade_app(
    uri: str | None = None,
    *,
    users: UserStore | None = None,
    base_url: str | None = None,
    reader: MaterialsReader | None = None,
) -> FastAPI:
    """The OPTIMADE v1 app over the materials collection of ``uri``.

    Parameters
    ----------
    uri
        Database URI (None: the configured one), as for :func:`htflow.db.get_jobstore`.
    users
        Who may read (HTTP basic auth); None serves without sign-in.
    base_url
        The public base URL (behind a proxy); None takes it from each request.
    reader
        Reads the materials (default: :func:`~htflow.optimade.collection.open_reader`).

    Raises
    ------
    DatabaseUnreachableError, InputError
        The database is unreachable or absent.
    """
    _import_server()
    from optimade.models import Implementation, Provider
    from optimade.server.config import ServerConfig, SupportedBackend
    from optimade.server.create_app import create_app

    import htflow
    from htflow.optimade.auth import BasicAuthMiddleware
    from htflow.optimade.collection import (
        LiteralMongoTransformer,
        MaterialsCollection,
        open_reader,
    )
    from htflow.optimade.fields import PROVIDER_PREFIX, aliases, provider_field_descriptions
    from htflow.optimade.references import reference_documents

    _quiet_console()
    reader = reader or open_reader(uri)
    config = ServerConfig(
        insert_test_data=False,
        database_backend=SupportedBackend.MONGOMOCK,  # links and references: in memory
        mongo_database=f"htflow-optimade-{uuid.uuid4().hex}",  # private to this app
        base_url=base_url,
        page_limit=PAGE_LIMIT,
        page_limit_max=PAGE_LIMIT_MAX,
        log_dir=os.environ.get(LOG_DIR_ENV) or log_dir(),
        provider=Provider(
            prefix=PROVIDER_PREFIX,
            name="htflow",
            description="Materials computed by htflow high-throughput DFT campaigns",
        ),
        implementation=Implementation(name="htflow", version=htflow.__version__),
        provider_fields={"structures": provider_field_descriptions()},
        aliases={"structures": aliases()},
    )
    app = create_app(config)
    app.state.entry_collections["structures"] = MaterialsCollection(reader, config)
    references = app.state.entry_collections["references"]
    references.transformer = LiteralMongoTransformer(mapper=references.resource_mapper)
    references.insert(reference_documents(uri))
    app.state.htflow_reader = reader
    if users is not None:
        app.add_middleware(BasicAuthMiddleware, users=users)
    return app


def _import_server() -> None:
    """Import optimade's server with its log file under the htflow home.

    optimade's logger opens its log file when its module is first imported, in
    ``$OPTIMADE_LOG_DIR`` or else ``/var/log/optimade``. The variable is set (unless the user
    set it) for that import only.
    """
    if "optimade.server.logger" in sys.modules:
        return
    chosen = os.environ.get(LOG_DIR_ENV)
    os.environ[LOG_DIR_ENV] = chosen or log_dir()
    try:
        importlib.import_module("optimade.server.create_app")
    finally:
        if chosen is None:
            os.environ.pop(LOG_DIR_ENV, None)


def _quiet_console() -> None:
    """optimade's console handler (stdout) at WARNING: its INFO lines ("Loaded settings from
    ~/.optimade.json", also when there is no such file) would bury the server's
    announcement. Its log file, under :func:`log_dir`, keeps everything."""
    import logging

    for handler in logging.getLogger("optimade").handlers:
        if type(handler) is logging.StreamHandler:
            handler.setLevel(logging.WARNING)
