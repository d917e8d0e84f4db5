"""What the agent trusts in its inbox: which files it reads, which modules a flow may name.

Decoding a serialized flow (``MontyDecoder``) imports every module the JSON names under
``@module`` and builds its ``@class`` or fetches its ``@callable``: whoever writes that JSON
chooses code the agent imports and runs. So before anything is decoded:

- the inbox directory must belong to the agent's user and be closed to everyone else
  (``0700``; a directory of ours that is open is closed again, one that is not ours is not
  read at all);
- an inbox file must be a regular file (not a symlink) owned by the agent's user;
- a flow's JSON may name only modules under the ``inbox_trusted_modules`` setting's prefixes.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import TYPE_CHECKING, Any

from htflow.exceptions import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

logger = logging.getLogger("htflow.agent")

MAX_REQUEST_BYTES = 256 * 1024 * 1024  # a campaign's flow is kilobytes to megabytes


def named_modules(value: Any) -> set[str]:
    """Every ``@module`` value anywhere in ``value`` (non-strings as their repr)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "@module" in item:
                module = item["@module"]
                found.add(module if isinstance(module, str) else repr(module))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def is_trusted(module: str, prefixes: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one (``htflow`` → ``htflow.qe``)."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def check_flow_modules(flow: Any) -> None:
    """Refuse a serialized flow that names a module outside ``inbox_trusted_modules``.

    Raises
    ------
    InputError
        One line naming the untrusted modules.
    """
    from htflow.settings import get_settings

    prefixes = get_settings().inbox_trusted_modules
    untrusted = sorted(m for m in named_modules(flow) if not is_trusted(m, prefixes))
    if untrusted:
        shown = ", ".join(repr(m[:60]) for m in untrusted[:5])
        raise InputError(
            f"the flow names modules outside inbox_trusted_modules ({', '.join(prefixes)}): "
            f"{shown}{' …' if len(untrusted) > 5 else ''}; not decoded"
        )


def secure_inbox(inbox: Path) -> bool:
    """Whether the agent may read ``inbox``: a directory it owns, closed to others.

    A directory of the agent's user that is open to its group or others is closed
    (``chmod 0700``, logged); one that is a symlink or belongs to another user is refused.
    """
    try:
        info = os.lstat(inbox)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        logger.error("inbox %s is not a directory (a symlink?): not read", inbox)
        return False
    if info.st_uid != os.geteuid():
        logger.error(
            "inbox %s belongs to uid %d, not to the agent's uid %d: not read",
            inbox,
            info.st_uid,
            os.geteuid(),
        )
        return False
    if info.st_mode & 0o077:
        logger.warning(
            "inbox %s was open to others (mode %o): closed to 0700",
            inbox,
            stat.S_IMODE(info.st_mode),
        )
        os.chmod(inbox, 0o700)
    return True


def read_owned_file(path: Path) -> bytes:
    """The bytes of ``path`` if it is a regular file owned by the agent's user.

    Opened without following a symlink; the checks are made on the open file, so the file
    cannot be swapped between the check and the read.

    Raises
    ------
    InputError
        Not a regular file, owned by another user, or too large (one line).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise InputError(f"cannot be opened as a regular file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputError("not a regular file")
        if info.st_uid != os.geteuid():
            raise InputError(
                f"owned by uid {info.st_uid}, not by the agent's uid {os.geteuid()}: "
                "only the agent's user may leave requests"
            )
        if info.st_size > MAX_REQUEST_BYTES:
            raise InputError(f"{info.st_size} bytes: larger than any request")
        return handle.read()
