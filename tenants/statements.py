"""What a SQL statement touches: the mapped classes, bare tables and raw SQL anywhere in it.

The scoping hooks (tenants/scoping.py) read this to decide whether a statement needs the
tenant filter, and to refuse the parts the filter cannot reach. It walks the whole statement,
not only its top-level entities, so counts over `select_from`, subqueries, CTEs, correlated
EXISTS and the members of a UNION are all seen. It imports nothing from the application.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement, ColumnClause, TextClause
from sqlalchemy.sql.selectable import Select, TableClause


@dataclass(frozen=True)
class Touched:
    # Mapped classes the statement names through the ORM (entities, aliases, their columns,
    # relationship joins): the ORM's loader criteria reach every one of them.
    entities: frozenset[type]
    # Tables named bare (`Model.__table__`, `table(...)`) where they make a FROM of their own,
    # out of the ORM's reach.
    bare_tables: frozenset[TableClause]
    # Raw SQL fragments (`text(...)`), which nothing can look into.
    texts: tuple[str, ...]


@dataclass
class _Level:
    """One SELECT (or INSERT, UPDATE, DELETE) of the statement, apart from those nested in it."""

    mapped: set[int] = field(default_factory=set)  # ids of tables its ORM entities stand on
    bare: dict[int, TableClause] = field(default_factory=dict)


def touched(statement: ClauseElement) -> Touched:
    """Everything the statement reads or writes, at any depth."""
    entities: set[type] = set()
    texts: list[str] = []
    levels = [_Level()]
    # Identity, not equality: `==` on SQL columns builds an expression instead of comparing.
    seen: set[int] = set()
    stack: list[tuple[ClauseElement, _Level]] = [(statement, levels[0])]
    while stack:
        element, level = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        mapper = element._annotations.get("parentmapper")
        if mapper is not None:
            # An ORM entity or one of its columns: what lies below is the mapped table itself,
            # which the ORM filters; descending would mistake it for a bare table.
            entities.add(mapper.class_)
            level.mapped.add(id(_table_of(element)))
            continue
        if isinstance(element, TableClause):
            level.bare[id(element)] = element
            continue
        if isinstance(element, TextClause):
            texts.append(element.text)
        if isinstance(element, (Select, UpdateBase)):
            level = _Level()
            levels.append(level)
        stack.extend((child, level) for child in _children(element))
    # A bare column of a table an ORM entity of the same SELECT stands on (as the ORM writes
    # for `session.get` and lazy loads) names that entity's FROM, which is filtered.
    bare = {
        table for level in levels for key, table in level.bare.items() if key not in level.mapped
    }
    return Touched(frozenset(entities), frozenset(bare), tuple(texts))


def _table_of(element: ClauseElement) -> ClauseElement:
    plain = element._deannotate()
    return plain.table if isinstance(plain, ColumnClause) else plain


def _children(element: ClauseElement):
    if isinstance(element, Select):
        # A SELECT also lists the FROMs it derives from its columns: the bare tables under
        # ORM columns. What it names itself (columns, WHERE, select_from, joins) is enough.
        return super(Select, element).get_children(omit_attrs=("_correlate", "_correlate_except"))
    if isinstance(element, ColumnClause) and element.table is not None:
        # A column's table (or subquery, or CTE) is not among its children.
        return (*element.get_children(), element.table)
    return element.get_children()
