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
  parameter, and column names in a ``WHERE`` must be the model's own.
- Works on the project's two backends, PostgreSQL and SQLite ≥ 3.35 (both have ``RETURNING`` and
  ``ON CONFLICT``; ``FOR UPDATE`` only where the backend has it). A system check refuses an
  older SQLite at start-up.
"""

from __future__ import annotations

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import UniqueConstraint


def _db():
    # ``django.db.connection`` is a proxy that finds the thread's connection on every attribute
    # access; the helpers take the real one once per call.
    return connections[DEFAULT_DB_ALIAS]


def qn(name: str) -> str:
    return _db().ops.quote_name(name)


@cache
def _shape(model, vendor: str):
    db = _db()
    fields = tuple(model._meta.concrete_fields)
    table = model._meta.db_table
    quote = db.ops.quote_name
    columns = ", ".join(f"{quote(table)}.{quote(f.column)}" for f in fields)
    attnames = [f.attname for f in fields]
    converters = []
    for index, field in enumerate(fields):
        col = field.get_col(table)
        found = db.ops.get_db_converters(col) + col.get_db_converters(db)
        if found:
            converters.append((index, col, tuple(found)))
    return fields, columns, attnames, tuple(converters)


def columns(model) -> str:
    """The model's columns, qualified by its table, in ``concrete_fields`` order."""
    return _shape(model, _db().vendor)[1]


def width(model) -> int:
    return len(_shape(model, _db().vendor)[0])


def build(model, values):
    """A model instance from one row's values for ``columns(model)`` (``Model.from_db``)."""
    db = _db()
    _, _, attnames, converters = _shape(model, db.vendor)
    values = list(values)
    for index, col, funcs in converters:
        value = values[index]
        for func in funcs:
            value = func(value, col, db)
        values[index] = value
    return model.from_db(db.alias, attnames, values)


@cache
def _select_sql(model, vendor: str, names: tuple[str, ...], for_update: bool):
    db = _db()
    meta = model._meta
    by_column = {f.column: f for f in meta.concrete_fields}
    unknown = [name for name in names if name not in by_column]
    if unknown:
        raise ValueError(f"{model.__name__} has no column {unknown[0]!r}")
    quote = db.ops.quote_name
    table = quote(meta.db_table)
    where = " AND ".join(f"{table}.{quote(name)} = %s" for name in names)
    sql = f"SELECT {_shape(model, vendor)[1]} FROM {table} WHERE {where}"
    if for_update and db.features.has_select_for_update:
        sql += " FOR UPDATE"
    return tuple(by_column[name] for name in names), sql


def select_by(model, *, for_update: bool = False, **equals):
    """The row whose columns equal the given values, as an instance, or None (the first, if the
    columns are not unique). Names are the model's columns (``business_id=…``, not
    ``business=…``); values are prepared by their fields. ``for_update`` locks the row where the
    backend can."""
    db = _db()
    names = tuple(sorted(equals))
    fields, statement = _select_sql(model, db.vendor, names, for_update)
    params = [field.get_db_prep_value(equals[name], db) for field, name in zip(fields, names, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    return None if row is None else build(model, row)


def _is_unique(model, columns: tuple[str, ...]) -> bool:
    """A unique column, or the exact columns of an unconditional UniqueConstraint."""
    meta = model._meta
    if len(columns) == 1 and any(f.column == columns[0] and f.unique for f in meta.concrete_fields):
        return True
    for constraint in meta.constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.fields and constraint.condition is None and not constraint.expressions:
            if tuple(meta.get_field(name).column for name in constraint.fields) == columns:
                return True
    return False


@cache
def _insert_sql(model, vendor: str, unless_exists: tuple[str, ...] | None):
    meta = model._meta
    quote = _db().ops.quote_name
    fields = tuple(f for f in meta.concrete_fields if not (f.primary_key and f.db_returning))
    sql = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES ({', '.join(['%s'] * len(fields))})"
    if unless_exists is not None:
        if not _is_unique(model, unless_exists):
            raise ValueError(f"{model.__name__}: {', '.join(unless_exists)} is not a unique column or constraint")
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in unless_exists)}) DO NOTHING"
    return fields, sql + f" RETURNING {quote(meta.pk.column)}"


def insert(instance, *, unless_exists: str | tuple[str, ...] | None = None):
    """INSERT one new instance (no signals, like ``bulk_create``); sets its primary key from
    ``RETURNING``.

    With ``unless_exists="<unique column>"`` (or a tuple of the columns of a UniqueConstraint) a
    row that already holds the same values wins: nothing is inserted and None is returned
    (``ON CONFLICT … DO NOTHING`` returns no row). Unlike catching IntegrityError, this needs no
    savepoint inside a transaction."""
    if isinstance(unless_exists, str):
        unless_exists = (unless_exists,)
    db = _db()
    model = type(instance)
    fields, sql = _insert_sql(model, db.vendor, unless_exists)
    params = [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if model._meta.pk not in fields:
        setattr(instance, model._meta.pk.attname, row[0])
    instance._state.adding = False
    instance._state.db = db.alias
    return instance


@cache
def _update_sql(model, vendor: str, names: tuple[str, ...]):
    meta = model._meta
    quote = _db().ops.quote_name
    wanted = set(names) | {f.name for f in meta.concrete_fields if getattr(f, "auto_now", False)}
    fields = tuple(f for f in meta.concrete_fields if f.name in wanted and not f.primary_key)
    unknown = set(names) - {f.name for f in fields}
    if unknown:
        raise ValueError(f"{model.__name__} has no updatable fields {sorted(unknown)}")
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    return fields, f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"


def update(instance, names) -> None:
    """UPDATE the named fields (and any ``auto_now`` field) of a saved instance by primary key."""
    db = _db()
    fields, sql = _update_sql(type(instance), db.vendor, tuple(sorted(names)))
    params = [f.get_db_prep_save(f.pre_save(instance, False), db) for f in fields]
    params.append(instance.pk)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
