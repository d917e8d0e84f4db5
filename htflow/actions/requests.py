"""Admin requests as data: what may be asked of the one writer, and nothing else.

Each request is a pydantic model tagged by ``kind``; :data:`Request` is their discriminated
union and :func:`parse_request` the only way a payload (an inbox file, a dashboard form)
becomes one. Anything that is not one of these kinds, or carries a field they do not
declare, is refused with a one-line :class:`htflow.exceptions.InputError`: the allowlist of
what the agent will do for whoever can write its inbox.
"""

from __future__ import annotations

import getpass
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from htflow.exceptions import InputError

# A Firework priority far outside this is a typo, not a scheduling decision.
MAX_PRIORITY = 1_000_000


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers) and no LOGNAME/USER
        return "unknown"


def _now() -> datetime:
    return datetime.now(UTC)


class _RequestBase(BaseModel):
    """Fields every request carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        pattern=r"^[0-9a-f]{32}$",
        description="Unique id (uuid4 hex); the inbox file and its result are named by it.",
    )
    who: str = Field(
        default_factory=_os_user,
        min_length=1,
        max_length=200,
        description="Who asked (the OS user by default; the dashboard puts its login here).",
    )
    requested_at: datetime = Field(
        default_factory=_now, description="When it was asked (UTC; a naive time is read as UTC)."
    )

    @field_validator("requested_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class _CampaignRequest(_RequestBase):
    campaign: str = Field(
        min_length=1, max_length=200, description="The campaign (spec.htflow_campaign)."
    )


class RerunRequest(_RequestBase):
    """Rerun FIZZLED Fireworks (or the named ones), keeping their earlier launches' history.

    ``cause``, ``match`` and ``fw_ids`` choose which Fireworks; at most one of them. With
    only ``campaign``, every FIZZLED Firework of the campaign is rerun.
    """

    kind: Literal["rerun"] = "rerun"
    campaign: str | None = Field(
        None, min_length=1, max_length=200, description="Restrict to this campaign."
    )
    cause: str | None = Field(
        None,
        min_length=1,
        description="A failure cause exactly as `htflow status` groups FIZZLED Fireworks.",
    )
    match: str | None = Field(
        None, min_length=1, description="Regular expression searched in the failure message."
    )
    fw_ids: list[Annotated[int, Field(gt=0)]] = Field(
        default_factory=list, description="Rerun these Fireworks (FIZZLED, COMPLETED, DEFUSED)."
    )
    reset_retries: bool = Field(
        False, description="Reset the agent's requeue counters of the Fireworks' launches."
    )

    @field_validator("match", mode="after")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _names_something(self) -> RerunRequest:
        chosen = [n for n in ("cause", "match", "fw_ids") if getattr(self, n)]
        if not chosen and self.campaign is None:
            raise ValueError(
                "names nothing: give a campaign, a cause, a match or fw ids "
                "(rerunning every FIZZLED Firework of every campaign is not offered)"
            )
        if len(chosen) > 1:
            raise ValueError(f"give one of cause, match, fw_ids, not {' and '.join(chosen)}")
        return self


class PauseRequest(_CampaignRequest):
    """Start no new launch of the campaign; running ones finish."""

    kind: Literal["pause"] = "pause"


class ResumeRequest(_CampaignRequest):
    """Undo a pause."""

    kind: Literal["resume"] = "resume"


class CancelRequest(_CampaignRequest):
    """Defuse what has not started; cancel allocations that hold only this campaign."""

    kind: Literal["cancel"] = "cancel"


class PriorityRequest(_CampaignRequest):
    """Set FireWorks' ``_priority`` of the campaign's unfinished Fireworks (higher runs first)."""

    kind: Literal["priority"] = "priority"
    priority: int = Field(ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="The new priority.")


class SubmitFlowRequest(_RequestBase):
    """A serialized jobflow Flow for :func:`htflow.submit.submit_flow` (what the inbox carried).

    ``flow`` is the flow's JSON (``jsanitize(flow, strict=True)``); the agent checks every
    module it names against ``inbox_trusted_modules`` before decoding it.
    """

    kind: Literal["submit_flow"] = "submit_flow"
    flow: dict[str, Any] = Field(description="The serialized Flow or Job.")
    protocol: str | None = Field(None, description="submit_flow's protocol.")
    resources: dict[str, dict[str, Any]] | None = Field(
        None, description="Job type → resource overrides (submit_flow's resources)."
    )
    dedupe: bool = Field(True, description="Check the database for duplicates first.")


Request = Annotated[
    RerunRequest
    | PauseRequest
    | ResumeRequest
    | CancelRequest
    | PriorityRequest
    | SubmitFlowRequest,
    Field(discriminator="kind"),
]
KINDS = ("rerun", "pause", "resume", "cancel", "priority", "submit_flow")
_ADAPTER: TypeAdapter[Request] = TypeAdapter(Request)


def parse_request(payload: Any) -> Request:
    """The request ``payload`` (a mapping, or its JSON text) describes.

    Raises
    ------
    InputError
        One line: not a JSON object, an unknown ``kind``, a missing, extra or invalid field,
        or a rerun that names nothing.
    """
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InputError(f"request is not JSON ({exc})") from None
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    if not isinstance(payload, dict):
        raise InputError(f"request must be a JSON object, not {type(payload).__name__}")
    kind = payload.get("kind")
    if kind not in KINDS:
        raise InputError(f"unknown request kind {str(kind)[:40]!r} (known: {', '.join(KINDS)})")
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InputError(f"{kind} request: {where + ': ' if where else ''}{message}") from None


__all__ = [
    "KINDS",
    "CancelRequest",
    "PauseRequest",
    "PriorityRequest",
    "Request",
    "RerunRequest",
    "ResumeRequest",
    "SubmitFlowRequest",
    "parse_request",
]
