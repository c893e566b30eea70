"""The statements contact search runs on PostgreSQL over `contact_search_terms` (the words
and identifiers the database's triggers keep, migration 0026), for app/contacts/search.py.

They are built of leakproof comparisons only (text `>=`, `<`, `=` in the "C" collation, uuid
`=`), so that PostgreSQL may use the `(tenant_id, term)` index under the forced row-level
security the application runs in: it uses an index for no condition whose functions could
reveal a row the policy hides (to_tsvector, @@, lower, regexp_replace, LIKE are not leakproof).
Terms are to_tsvector('simple', ...) lexemes: lower-cased, no stemming, no stop words, so
Spanish and English (and names) match alike.
May import: sqlalchemy, app.contacts (models).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, union_all

from app.contacts.models import Contact, ContactSearchTerm

Term = ContactSearchTerm
WORD_SOURCES = ("contact", "message")


def after(word: str) -> str:
    """The first text that no longer starts with `word`, in code point ("C") order."""
    return word[:-1] + chr(ord(word[-1]) + 1)


def _starts_with(word: str) -> ColumnElement:
    # A range, not starts_with() or LIKE: the b-tree serves it (the column's collation is "C").
    return and_(Term.term >= word, Term.term < after(word))


def _sources(include_notes: bool) -> tuple[str, ...]:
    return (*WORD_SOURCES, "note") if include_notes else WORD_SOURCES


def with_every_word(words: list[str], *, include_notes: bool) -> Select:
    """The ids of the contacts where each word starts a term (any source, notes only with
    `include_notes`)."""
    each = union_all(
        *(
            select(Term.contact_id, literal(n).label("word")).where(
                _starts_with(word), Term.source.in_(_sources(include_notes))
            )
            for n, word in enumerate(words)
        )
    ).subquery()
    return (
        select(each.c.contact_id)
        .group_by(each.c.contact_id)
        .having(func.count(func.distinct(each.c.word)) == len(words))
    )


def own_words(words: list[str]) -> ColumnElement:
    """How many terms of the contact's own (subject, name, first text) the words start: the
    contact's rank among those that match."""
    return (
        select(func.count())
        .where(
            Term.tenant_id == Contact.tenant_id,
            Term.contact_id == Contact.id,
            Term.source == "contact",
            or_(*(_starts_with(word) for word in words)),
        )
        .scalar_subquery()
    )


def with_identifier(key: str) -> Select:
    """The ids of the contacts whose e-mail (lower-cased) or phone digits are `key`."""
    return select(Term.contact_id).where(Term.term == key, Term.source == "identifier")
