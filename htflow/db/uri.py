"""Database URI resolution and redaction: which backend a URI means, never leaking passwords."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from htflow.exceptions import InputError
from htflow.settings import get_settings

DEFAULT_DATABASE = "htflow"
MONGO_SCHEMES = ("mongodb://", "mongodb+srv://")

# user:password@ in the authority part of any scheme://user:password@host URI
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@")
# password=... / pwd=... query options
_PW_OPTION = re.compile(r"(?i)(?P<key>[?&](?:password|pwd)=)[^&]*")


def redact(uri: str | None) -> str:
    """Return ``uri`` with any password replaced by ``***`` (safe to log or print).

    Parameters
    ----------
    uri
        A database URI or path; None gives ``"<none>"``.
    """
    if uri is None:
        return "<none>"
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(uri))
    return _PW_OPTION.sub(lambda m: f"{m['key']}***", out)


@dataclass(frozen=True)
class DbTarget:
    """A resolved database location.

    Attributes
    ----------
    kind
        ``"mongodb"`` (a MongoDB server) or ``"embedded"`` (SQLite files on disk).
    uri
        The URI as given (contains the password for MongoDB: never log it, use ``redacted``).
    database
        Database name.
    path
        Directory of the embedded store (None for MongoDB).
    """

    kind: Literal["mongodb", "embedded"]
    uri: str
    database: str
    path: Path | None = None

    @property
    def redacted(self) -> str:
        """The URI with its password masked."""
        return redact(self.uri)

    @property
    def lock_path(self) -> Path:
        """The file whose lock the single writer holds."""
        if self.path is not None:
            return self.path / "writer.lock"
        # A MongoDB server has no directory of ours: lock per (host, database) under home.
        host = urlsplit(self.uri).hostname or "mongodb"
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{host}-{self.database}")
        return get_settings().home / "locks" / f"mongodb-{safe}.lock"


def resolve(uri: str | None = None) -> DbTarget:
    """Resolve ``uri`` (None → ``get_settings().db_uri`` → embedded store in ``home/db``).

    Parameters
    ----------
    uri
        ``mongodb://…``, ``mongodb+srv://…``, ``file:///path`` or a plain directory path.

    Returns
    -------
    DbTarget
        The backend kind, database name and (for the embedded store) its directory.
    """
    if uri is None:
        settings = get_settings()
        uri = settings.db_uri
        if uri is None:
            path = settings.home / "db"
            return DbTarget("embedded", f"file://{path}", DEFAULT_DATABASE, path)
    uri = uri.strip()
    if uri.startswith(MONGO_SCHEMES):
        return DbTarget("mongodb", uri, _mongo_database(uri))
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InputError(
                f"database URI {redact(uri)!r}: file:// URIs must be local "
                "(file:///absolute/path), not on host {parts.netloc!r}"
            )
        raw = unquote(parts.path)
    elif "://" in uri:
        raise InputError(
            f"database URI {redact(uri)!r} has an unknown scheme: "
            "use mongodb://, mongodb+srv://, file:///path or a directory path"
        )
    else:
        raw = uri
    if not raw:
        raise InputError("database URI names no directory: use file:///absolute/path or a path")
    path = Path(raw).expanduser().resolve()
    return DbTarget("embedded", f"file://{path}", DEFAULT_DATABASE, path)


def _mongo_database(uri: str) -> str:
    """Database name from the URI path (``mongodb://host/dbname?opts``), default "htflow"."""
    rest = uri.split("://", 1)[1]
    if "/" not in rest:
        return DEFAULT_DATABASE
    path = rest.split("/", 1)[1].split("?", 1)[0]
    name = unquote(path).strip()
    return name or DEFAULT_DATABASE
