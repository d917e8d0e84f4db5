"""Dashboard users: names, roles and password hashes in a YAML file readable by its owner only.

The file (default ``<home>/dashboard_users.yaml``, mode 0600) maps each name to a role and a
werkzeug password hash (scrypt)::

    users:
      alice: {role: admin, password_hash: "scrypt:32768:8:1$..."}
      bob: {role: viewer, password_hash: "scrypt:..."}

``viewer`` sees every page; ``admin`` may also act (rerun, pause, resume, cancel, priority).
``htflow dashboard users add NAME --role admin`` writes it. Without a users file, a set
``HTFLOW_DASHBOARD_PASSWORD`` still works, as one admin named ``HTFLOW_DASHBOARD_USER``
(default ``htflow``), on the loopback address only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from htflow.exceptions import InputError
from htflow.settings import get_settings

Role = Literal["viewer", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "admin")
USERS_FILE_NAME = "dashboard_users.yaml"
MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# A verified (name, password) is remembered this long, so that basic-auth API clients polling
# every few seconds do not pay one scrypt hash (0.15 s) per request.
_VERIFIED_TTL = 60.0


class UserRecord(BaseModel):
    """One user as stored."""

    model_config = ConfigDict(extra="forbid")
    role: Role = Field(description="viewer (read) or admin (read and act).")
    password_hash: str = Field(description="werkzeug.security password hash.")


class UsersFile(BaseModel):
    """The users file."""

    model_config = ConfigDict(extra="forbid")
    users: dict[str, UserRecord] = Field(default_factory=dict, description="Name → user.")


@dataclass(frozen=True)
class User:
    """A signed-in user."""

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        """Whether the user may act on campaigns."""
        return self.role == "admin"


def default_users_file() -> Path:
    """``<home>/dashboard_users.yaml`` (read at call time)."""
    return get_settings().home / USERS_FILE_NAME


def read_users(path: Path) -> dict[str, UserRecord]:
    """The users in ``path`` (an absent file has none)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return UsersFile.model_validate(data).users
    except (yaml.YAMLError, ValidationError) as exc:
        raise InputError(f"{path} is not a dashboard users file: {exc}".splitlines()[0]) from exc


def write_users(path: Path, users: dict[str, UserRecord]) -> None:
    """Write the users file atomically, readable and writable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        {"users": {name: record.model_dump() for name, record in sorted(users.items())}},
        sort_keys=False,
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)  # an existing tmp file keeps its mode through O_CREAT
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def add_user(path: Path, name: str, password: str, role: Role) -> bool:
    """Add ``name`` (or replace its password and role); True when the user is new."""
    from werkzeug.security import generate_password_hash

    if not _NAME.match(name):
        raise InputError(f"user name {name!r}: use 1-64 letters, digits or . _ @ -")
    if role not in ROLES:
        raise InputError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    users = read_users(path)
    new = name not in users
    users[name] = UserRecord(role=role, password_hash=generate_password_hash(password))
    write_users(path, users)
    return new


def remove_user(path: Path, name: str) -> None:
    """Remove ``name`` from the users file."""
    users = read_users(path)
    if name not in users:
        raise InputError(f"no dashboard user {name!r} in {path}")
    del users[name]
    write_users(path, users)


class UserStore:
    """Who may sign in: the users file (re-read when it changes) or the legacy password.

    Parameters
    ----------
    path
        The users file; None with ``password`` for the legacy single admin.
    password
        ``HTFLOW_DASHBOARD_PASSWORD`` (plain text, from the environment): one admin ``name``.
    name
        The legacy admin's name.
    """

    def __init__(
        self, path: Path | None = None, password: str | None = None, name: str = "htflow"
    ) -> None:
        from werkzeug.security import generate_password_hash

        self.path = path
        self._legacy: dict[str, UserRecord] = {}
        if path is None and password:
            self._legacy = {name: UserRecord(role="admin", password_hash="")}
            self._legacy_password = password
        self._users: dict[str, UserRecord] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._key = secrets.token_bytes(32)
        self._verified: dict[bytes, float] = {}
        # Unknown names are checked against this hash too, so timing does not reveal names.
        self._dummy = generate_password_hash(secrets.token_hex(16))

    @classmethod
    def configured(cls, users_file: Path | None = None) -> UserStore:
        """The users file given, else the default one if it exists, else the legacy password.

        Raises
        ------
        InputError
            Nobody could sign in.
        """
        settings = get_settings()
        path = users_file or default_users_file()
        if users_file is not None and not path.is_file():
            raise InputError(
                f"no users file {path}: htflow dashboard users add NAME --users {path}"
            )
        if path.is_file():
            return cls(path)
        if settings.dashboard_password:
            return cls(None, settings.dashboard_password, settings.dashboard_user)
        raise InputError(
            f"no dashboard users ({path} is absent): add one with "
            "`htflow dashboard users add NAME --role admin`"
        )

    @property
    def from_file(self) -> bool:
        """Whether users come from a users file (not the legacy password)."""
        return self.path is not None

    def _records(self) -> dict[str, UserRecord]:
        if self.path is None:
            return self._legacy
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return {}
        with self._lock:
            if stamp != self._stamp:
                self._users = read_users(self.path)
                self._stamp = stamp
                self._verified.clear()
            return self._users

    def get(self, name: str) -> User | None:
        """The user ``name`` as the file says now (None: no such user any more)."""
        record = self._records().get(name)
        return User(name, record.role) if record is not None else None

    def verify(self, name: str, password: str) -> User | None:
        """The user when ``password`` is right, else None."""
        from werkzeug.security import check_password_hash

        record = self._records().get(name)
        if record is not None and self.path is None:
            ok = hmac.compare_digest(password.encode(), self._legacy_password.encode())
            return User(name, record.role) if ok else None
        stored = record.password_hash if record is not None else self._dummy
        key = hmac.new(self._key, f"{name}\0{password}\0{stored}".encode(), hashlib.sha256)
        digest, now = key.digest(), time.monotonic()
        with self._lock:
            expires = self._verified.get(digest)
        if expires is not None and expires > now and record is not None:
            return User(name, record.role)
        if not check_password_hash(stored, password) or record is None:
            return None
        with self._lock:
            self._verified = {k: t for k, t in self._verified.items() if t > now}
            self._verified[digest] = now + _VERIFIED_TTL
        return User(name, record.role)
