"""Base models and the page envelope."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

RoleName = Literal["owner", "admin", "developer", "viewer"]


class Input(BaseModel):
    """Request bodies: unknown fields are an error (422), never silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    """Response bodies; built from ORM rows or dataclasses."""

    model_config = ConfigDict(from_attributes=True)


class Page(Output, Generic[T]):
    """One page; pass ``next_cursor`` back as ``cursor`` for the next, None at the end."""

    items: list[T]
    next_cursor: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a stable code and a human message."""

    error: str
    detail: str | list[dict[str, object]]
