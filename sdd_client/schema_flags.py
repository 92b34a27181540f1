"""Command-line flags typed and described by the server's schema.

A flag that sets a request field takes its help text from that field's description in the OpenAPI
document (through ``sdd_client.generated_models``), and its click type from the field's type, so
neither can drift from what the server accepts: ``--precision``'s help lists the server's values
because the server's schema does.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

import click
from pydantic import BaseModel


class IntList(click.ParamType):
    """``1,2,4`` (or ``[1, 2, 4]``) as a list of integers."""

    name = "INT,INT,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            return [int(part) for part in str(value).strip("[] ").split(",") if part.strip()]
        except ValueError:
            self.fail(f"expected comma-separated integers, got {value!r}", param, ctx)


INT_LIST = IntList()


def schema_help(model: type[BaseModel], field: str, then: str = "") -> str:
    """A flag's help: the server's description of ``model.field``, then what the flag adds (``then``)."""
    description = model.model_fields[field].description or ""
    return " ".join(part for part in (description, then) if part)


def value_type(annotation: Any) -> Any:
    """The type a field holds, without ``None``, type aliases and constraints: ``int`` for
    ``Epochs | None`` where ``Epochs = Annotated[int, Field(ge=1)]``."""
    while True:
        annotation = getattr(annotation, "__value__", annotation)  # a TypeAliasType: the type it names
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def click_type(model: type[BaseModel], field: str) -> tuple[Any, str | None]:
    """The click type of a field's flag and its metavar: INT, FLOAT, BOOL, INT_LIST, or STRING (a
    ``Literal``'s values as the metavar, ``[auto|fp32|bf16]``; the server names a wrong one)."""
    kind = value_type(model.model_fields[field].annotation)
    if typing.get_origin(kind) is Literal:
        return click.STRING, "[" + "|".join(str(value) for value in typing.get_args(kind)) + "]"
    if typing.get_origin(kind) is list and value_type(typing.get_args(kind)[0]) is int:
        return INT_LIST, None
    return {int: click.INT, float: click.FLOAT, bool: click.BOOL}.get(kind, click.STRING), None
