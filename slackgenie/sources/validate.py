""""This answer fits this model, or the read fails as malformed": the one way a provider's JSON is
checked before it is believed. ``Wire`` is the base of every provider's wire models (unknown
fields are ignored; a field the code reads is checked), ``Text`` a name or id an answer may hold.

A failure names what did not fit and where (``values.1.name: Input should be…``); what is left
out instead of failing (an odd entry of a list read item by item) is logged, never silent."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, TypeVar, cast

import structlog
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, create_model

from slackgenie.sources.http import SourceError

log = structlog.get_logger("slackgenie.sources")

# A name, id or username: no control characters (a NUL or a line break is nobody's name, and would
# forge lines in the printed plan), bounded.
Text = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$")]

M = TypeVar("M", bound=BaseModel)


class Wire(BaseModel):
    """A vendor's JSON object as the code reads it: the fields it names are checked, the rest ignored."""

    model_config = ConfigDict(extra="ignore")


class Malformed(SourceError):
    """An answer that does not fit what the code reads: a failed read, never 'nobody'."""


def where(exc: ValidationError) -> str:
    """Where an answer first does not fit its model, and how: ``values.1.name: Input should be…``
    (``(answer)``: the answer as a whole)."""
    first = exc.errors()[0]
    return (".".join(str(p) for p in first["loc"]) or "(answer)") + f": {first['msg']}"


def fit(model: type[M], raw: Any, what: str, at: str = "") -> M:
    """``raw`` as ``model``, or ``Malformed``: ``{what} malformed at {at}{where}``, ``what`` saying
    whose answer (``"JSM Ops: the timeline is"``) and ``at`` where ``raw`` sits in it."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise Malformed(f"{what} malformed at {at}{where(exc)}") from None


def fit_at(path: tuple[str, ...], model: type[M], raw: Any, what: str) -> M:
    """The ``model`` found at ``path`` in ``raw`` (``("schedule", "final_schedule")``): the
    envelopes around what is read need no model of their own; a failure names the whole path."""
    got: Any = fit(_inside(path, model), raw, what)
    for name in path:
        got = getattr(got, name)
    return cast(M, got)


@cache
def _inside(path: tuple[str, ...], model: type[BaseModel]) -> type[BaseModel]:
    for name in reversed(path):
        field: dict[str, Any] = {name: (model, ...)}  # required
        model = create_model(f"{model.__name__}In_{name}", __base__=Wire, **field)
    return model


def fits(model: type[M], raw: Any) -> M | None:
    """``raw`` as ``model``, or None where the caller has a meaning for "does not fit"."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def fitting(model: type[M], items: Iterable[Any], event: str) -> list[M]:
    """The items that fit ``model``; each one that does not is left out and logged as ``event``
    (a list read item by item: one odd entry costs only itself)."""
    out: list[M] = []
    for item in items:
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            log.warning(event, error=where(exc), effect="left out of the list")
    return out
