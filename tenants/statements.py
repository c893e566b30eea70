"""What a SQL statement touches: the mapped classes, bare tables and raw SQL anywhere in it.

The scoping hooks (tenants/scoping.py) read this to decide whether a statement needs the
tenant filter, and to refuse the parts the filter cannot reach. It walks the whole statement,
not only its top-level entities, so counts over `select_from`, subqueries, CTEs, correlated
EXISTS and the members of a UNION are all seen. It imports nothing from the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat

from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter, ClauseElement, ColumnClause, TextClause
from sqlalchemy.sql.selectable import Select, TableClause


@dataclass(frozen=True)
class Touched:
    # Mapped classes the statement names through the ORM (entities, aliases, their columns,
    # relationship joins): the ORM's loader criteria reach every one of them.
    entities: frozenset[type]
    # Tables named bare (`Model.__table__`, `table(...)`) where they make a FROM of their own,
    # out of the ORM's reach.
    bare_tables: frozenset[TableClause]
    # Raw SQL fragments (`text(...)`, `literal_column(...)`), which nothing can look into.
    texts: tuple[str, ...]


class _Level:
    """One SELECT (or INSERT, UPDATE, DELETE) of the statement, apart from those nested in it."""

    __slots__ = ("bare", "mapped")

    def __init__(self) -> None:
        self.mapped: set[int] = set()  # ids of the tables its ORM entities stand on
        self.bare: dict[int, TableClause] = {}


# What statements of one shape touch, by their cache key: the same shape (whatever its bound
# values) names the same entities, tables and raw SQL, and walking it again cost a hot request
# about a tenth of its time. Bounded like SQLAlchemy's own compiled cache; forgotten whole
# when full (shapes are few: a few hundred in the whole product).
_KNOWN_SHAPES = 2000
_known: dict[tuple, Touched] = {}


def touched(statement: ClauseElement) -> Touched:
    """Everything the statement reads or writes, at any depth."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:  # a statement SQLAlchemy cannot cache (it says so): walk it each time
        return _walk(statement)
    found = _known.get(cache_key.key)
    if found is None:
        found = _walk(statement)
        if len(_known) >= _KNOWN_SHAPES:
            _known.clear()
        _known[cache_key.key] = found
    return found


def _walk(statement: ClauseElement) -> Touched:
    # A plain loop, no recursion: it once ran on every statement the session executes.
    entities: set[type] = set()
    texts: list[str] = []
    levels = [_Level()]
    # Identity, not equality: `==` on SQL columns builds an expression instead of comparing.
    seen: set[int] = set()
    stack: list[tuple[ClauseElement, _Level]] = [(statement, levels[0])]
    while stack:
        element, level = stack.pop()
        key = id(element)
        if key in seen or type(element) is BindParameter:
            continue
        seen.add(key)
        mapper = element._annotations.get("parentmapper")
        if mapper is not None:
            # An ORM entity or one of its columns: what lies below is the mapped table itself,
            # which the ORM filters; descending would mistake it for a bare table.
            entities.add(mapper.class_)
            level.mapped.add(id(_table_of(element)))
            continue
        if isinstance(element, ColumnClause):
            if element.is_literal:
                texts.append(element.name)  # literal_column("..."): raw SQL
            # A column's table (or subquery, or CTE) is not among its children.
            if element.table is not None:
                stack.append((element.table, level))
            continue
        if isinstance(element, TableClause):
            level.bare[key] = element
            continue
        if isinstance(element, Select):
            level = _Level()
            levels.append(level)
            # A SELECT also lists the FROMs it derives from its columns: the bare tables under
            # ORM columns. What it names itself (columns, WHERE, select_from, joins) is enough.
            children = super(Select, element).get_children(omit_attrs=_CORRELATION)
        else:
            if isinstance(element, UpdateBase):
                level = _Level()
                levels.append(level)
            elif isinstance(element, TextClause):
                texts.append(element.text)
            children = element.get_children()
        stack.extend(zip(children, repeat(level)))
    # A bare column of a table an ORM entity of the same SELECT stands on (as the ORM writes
    # for `session.get` and lazy loads) names that entity's FROM, which is filtered.
    bare = {
        table for level in levels for key, table in level.bare.items() if key not in level.mapped
    }
    return Touched(frozenset(entities), frozenset(bare), tuple(texts))


_CORRELATION = ("_correlate", "_correlate_except")


def _table_of(element: ClauseElement) -> ClauseElement:
    plain = element._deannotate()
    return plain.table if isinstance(plain, ColumnClause) else plain
