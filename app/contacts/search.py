"""Finding a firm's contacts by what a person types (`q`): the end customer's identifiers
exactly, and words of the subject, the customer's name and the thread.

On PostgreSQL words and the e-mail and phone are looked up in `contact_search_terms`, which
the database's triggers keep (app/contacts/search_sql.py, migration 0026): each word is a range
of terms, all must match, and a contact ranks by how many terms of its own (subject, name, first
text) the words start. Those comparisons are leakproof, so the terms' index serves the
application's role under forced row-level security (it would not for to_tsvector, @@, lower,
regexp_replace or LIKE). On SQLite (the demo) a plain LIKE scan. On both, a contact whose
identifier equals what was typed comes first; `external_id` and `customer_ref` use their
plain equality indexes.

Scoping is the data layer's: an agent finds only the contacts of its queues (the ORM filter
and row-level security on `contacts`), and a thread's messages are read only through contacts
in scope. The terms (scoped to the firm only) yield candidate ids; the contacts themselves are
read through their own scoping.
May import: app.db, app.contacts (models, search_sql).
"""

from __future__ import annotations

import re
import uuid

from sqlalchemy import Select, and_, case, exists, false, func, or_, select, union

from app.contacts import search_sql
from app.contacts.models import Contact, ContactMessage
from app.db import db

MAX_QUERY_LENGTH = 200
# Words beyond these are ignored: a pasted paragraph is not a query.
MAX_WORDS = 8
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
# A phone number as people type one: digits, spaces, dots, dashes, slashes, brackets, a +.
_PHONE = re.compile(r"^[\d\s().\-/+]+$")
# What SQLite (no regular expressions) strips from a stored phone to compare its digits.
_PHONE_MARKS = (" ", "-", ".", "(", ")", "/", "+")
_MIN_PHONE_DIGITS = 6
_WORD = re.compile(r"\w+", re.UNICODE)


def digits(text: str) -> str:
    """The digits of a phone number, as phones are compared."""
    return "".join(ch for ch in text if ch.isdigit())


def kind_of(q: str) -> str:
    """What the typed text looks like: `email`, `phone` or `words`."""
    if _EMAIL.match(q):
        return "email"
    if _PHONE.match(q) and len(digits(q)) >= _MIN_PHONE_DIGITS:
        return "phone"
    return "words"


def narrow(stmt: Select, *, q: str, include_notes: bool) -> Select:
    """Narrow a select of contacts to those matching `q`, best first: an identifier equal to
    it, then (PostgreSQL) how many of its own terms the words start, then the newest.

    Internal notes count only with `include_notes` (the firm's integration finds contacts by
    the words of notes only when the firm shares notes with it).
    """
    q = q.strip()
    kind = kind_of(q)
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    words = [] if kind != "words" else _WORD.findall(q.lower())[:MAX_WORDS]
    if postgresql:
        # The ids each index finds, put together: an OR of the conditions on one scan of the
        # contacts could use none of the terms' index.
        ids = _identifier_ids(q, kind)
        identified = Contact.id.in_(union(*ids))
        matched, rank = identified, None
        if words:
            found = union(*ids, search_sql.with_every_word(words, include_notes=include_notes))
            # The thread's words count for the match, the contact's own for the rank.
            matched, rank = Contact.id.in_(found), search_sql.own_words(words)
    else:
        identified = _identifier_match(q, kind)
        matched, rank = identified, None
        if words:
            matched, rank = _like(words, include_notes)
            matched = or_(identified, matched)
    first = case((identified, 1), else_=0)
    ranks = [first.desc()] + ([rank.desc()] if rank is not None else [])
    return (
        stmt.where(matched)
        .order_by(None)
        .order_by(*ranks, Contact.created_at.desc(), Contact.id.desc())
    )


def _identifier_match(q: str, kind: str):
    """(SQLite) The contacts whose identifiers are exactly what was typed."""
    if kind == "email":
        return func.lower(Contact.customer_email) == q.lower()
    conditions = [Contact.external_id == q, Contact.customer_ref == q]
    if kind == "phone":
        conditions.append(_phone_digits(Contact.customer_phone) == digits(q))
    try:
        conditions.append(Contact.id == uuid.UUID(q))
    except ValueError:
        pass
    return or_(*conditions)


def _identifier_ids(q: str, kind: str) -> list:
    """(PostgreSQL) The ids of the contacts whose identifiers are exactly what was typed, one
    select per index: the e-mail and phone through the terms, the rest by plain equality."""
    if kind == "email":
        return [search_sql.with_identifier(q.lower())]
    ids = [
        select(Contact.id).where(Contact.external_id == q),
        select(Contact.id).where(Contact.customer_ref == q),
    ]
    if kind == "phone":
        ids.append(search_sql.with_identifier(digits(q)))
    try:
        ids.append(select(Contact.id).where(Contact.id == uuid.UUID(q)))
    except ValueError:
        pass
    return ids


def _phone_digits(phone):
    for mark in _PHONE_MARKS:
        phone = func.replace(phone, mark, "")
    return phone


def _in_thread(condition, include_notes: bool):
    """Whether a message of the contact's thread meets the condition."""
    messages = select(ContactMessage.id).where(
        ContactMessage.contact_id == Contact.id,
        ContactMessage.tenant_id == Contact.tenant_id,
        condition,
    )
    if not include_notes:
        messages = messages.where(ContactMessage.kind != "note")
    return exists(messages)


def _like(words: list[str], include_notes: bool):
    def contains(column, word):
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.ilike(f"%{escaped}%", escape="\\")

    each = [
        or_(
            contains(Contact.subject, word),
            contains(Contact.customer_name, word),
            contains(Contact.body, word),
            _in_thread(contains(ContactMessage.body, word), include_notes),
        )
        for word in words
    ]
    in_subject = and_(*(contains(Contact.subject, word) for word in words))
    return and_(*each) if each else false(), case((in_subject, 1.0), else_=0.0)
