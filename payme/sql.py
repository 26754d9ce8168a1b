"""Plain SQL for the hot paths, with model instances built exactly as the ORM builds them.

Why: on a 2-core machine the ORM spends 0.4–1 ms of CPU *building and compiling* each statement
(``SQLCompiler.as_sql``), several times what PostgreSQL spends running it. The callback, the
wallet credit and authentication run a handful of fixed statements per request, so they use
these helpers instead (bench/README.md has the figures).

What keeps them honest:

- Tables, columns, primary keys and value conversions come from each model's ``_meta`` and its
  fields (``get_db_prep_save`` on the way in, the backend's and the field's converters on the way
  out), so a migration cannot leave a statement behind and encrypted or JSON fields read back as
  the ORM would read them.
- Instances are made with ``Model.from_db``, like any queryset row; ``pre_save`` runs for
  ``auto_now``/``auto_now_add`` fields, as ``Model.save`` would.
- The SQL for a (model, shape) is built once per backend and cached; every value is a bound
  parameter.
- Works on PostgreSQL and SQLite (``FOR UPDATE`` only where the backend has it; ``RETURNING``
  where it can return columns from an insert).
"""

from __future__ import annotations

from functools import cache

from django.db import connection


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


@cache
def _shape(model, vendor: str):
    fields = tuple(model._meta.concrete_fields)
    table = model._meta.db_table
    columns = ", ".join(f"{qn(table)}.{qn(f.column)}" for f in fields)
    attnames = [f.attname for f in fields]
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if found:
            converters.append((index, col, tuple(found)))
    return fields, table, columns, attnames, tuple(converters)


def columns(model) -> str:
    """The model's columns, qualified by its table, in ``concrete_fields`` order."""
    return _shape(model, connection.vendor)[2]


def width(model) -> int:
    return len(_shape(model, connection.vendor)[0])


def build(model, values):
    """A model instance from one row's values for ``columns(model)`` (``Model.from_db``)."""
    _, _, _, attnames, converters = _shape(model, connection.vendor)
    values = list(values)
    for index, col, funcs in converters:
        value = values[index]
        for func in funcs:
            value = func(value, col, connection)
        values[index] = value
    return model.from_db(connection.alias, attnames, values)


def lock_clause() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def select_one(model, where: str, params, *, for_update: bool = False):
    """``SELECT <all columns> FROM <table> WHERE <where>`` → instance or None. ``where`` is SQL
    with ``%s`` placeholders written against the model's table name."""
    sql = f"SELECT {columns(model)} FROM {qn(model._meta.db_table)} WHERE {where}"
    if for_update:
        sql += lock_clause()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else build(model, row)


@cache
def _insert_sql(model, vendor: str, returning: bool):
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if not (f.primary_key and f.db_returning))
    sql = f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    if returning:
        sql += f" RETURNING {qn(meta.pk.column)}"
    return fields, sql


def insert(instance):
    """INSERT one new instance (no signals, like ``bulk_create``); sets its primary key."""
    model = type(instance)
    returning = connection.features.can_return_columns_from_insert
    fields, sql = _insert_sql(model, connection.vendor, returning)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    if model._meta.pk not in fields:
        setattr(instance, model._meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@cache
def _update_sql(model, vendor: str, names: tuple[str, ...]):
    meta = model._meta
    wanted = set(names) | {f.name for f in meta.concrete_fields if getattr(f, "auto_now", False)}
    fields = tuple(f for f in meta.concrete_fields if f.name in wanted and not f.primary_key)
    unknown = set(names) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no updatable fields {sorted(unknown)}")
    assignments = ", ".join(f"{qn(f.column)} = %s" for f in fields)
    return fields, f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s"


def update(instance, names) -> None:
    """UPDATE the named fields (and any ``auto_now`` field) of a saved instance by primary key."""
    fields, sql = _update_sql(type(instance), connection.vendor, tuple(sorted(names)))
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in fields]
    params.append(instance.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
