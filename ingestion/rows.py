"""Statements every batch runs, written once per process instead of once per request.

Each request that appends a batch finds its API key, locks its session and moves the
session's head. Through the ORM, compiling those three statements cost more CPU than the
database spent running them (about 1 ms of a 500-event request). Here each statement's SQL is
written once from the models' own metadata, and rows become model instances the way the ORM
makes them: every column through the converters its field and the database backend declare
(UUIDs, times and JSON on SQLite, JSON on PostgreSQL), then ``Model.from_db``. The instances
are the ones a queryset would return; the ingestion suite compares them field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, NamedTuple, TypeVar, cast

from django.db import connections
from django.db.models import Field, Model

Converter = Callable[[Any, Any, Any], Any]
M = TypeVar("M", bound=Model)


class _Layout(NamedTuple):
    fields: tuple[Field, ...]
    attnames: list[str]
    # Per field: its column expression and the converters a queryset would run on it.
    conversions: tuple[tuple[Any, tuple[Converter, ...]], ...]


@cache
def _layout(model: type[Model], alias: str) -> _Layout:
    connection = connections[alias]
    fields = tuple(model._meta.concrete_fields)
    conversions = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        conversions.append((column, tuple(converters)))
    return _Layout(fields, [field.attname for field in fields], tuple(conversions))


def columns(model: type[Model], alias: str, *, table: str | None = None) -> str:
    """The select list of every concrete column of ``model``, in field order (``table``: the
    name or alias that qualifies each column)."""
    quote = connections[alias].ops.quote_name
    prefix = f"{quote(table)}." if table else ""
    return ", ".join(prefix + quote(field.column) for field in _layout(model, alias).fields)


def instance(model: type[M], alias: str, row: Sequence[Any], start: int = 0) -> M:
    """The instance held by ``row[start:]`` (as selected by ``columns``), loaded from the
    database like a queryset's."""
    connection = connections[alias]
    layout = _layout(model, alias)
    values = list(row[start : start + len(layout.fields)])
    for offset, (column, converters) in enumerate(layout.conversions):
        for convert in converters:
            values[offset] = convert(values[offset], column, connection)
    return cast(M, model.from_db(alias, layout.attnames, values))


def column(model: type[Model], name: str, alias: str) -> str:
    """The quoted column of the field ``name`` (its primary key: ``"pk"``)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return connections[alias].ops.quote_name(cast(Field, field).column)


def table(model: type[Model], alias: str) -> str:
    """The model's quoted table name."""
    return connections[alias].ops.quote_name(model._meta.db_table)


def width(model: type[Model], alias: str) -> int:
    """How many columns ``columns`` selects."""
    return len(_layout(model, alias).fields)


def db_value(model: type[Model], name: str, value: Any, alias: str) -> Any:
    """``value`` of the field ``name`` as a statement parameter on this database."""
    field = model._meta.get_field(name)
    return field.get_db_prep_save(value, connections[alias])
