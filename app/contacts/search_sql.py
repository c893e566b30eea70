"""The SQL expressions contact search matches on PostgreSQL, built once for the indexes
(app/contacts/models.py) and the queries (app/contacts/search.py) alike: PostgreSQL uses an
expression index only for a query that repeats its expression exactly.

Documents use the 'simple' text-search configuration: words are lower-cased and kept as they
are, with no stemming and no stop words, so Spanish and English (and names) match alike.
May import: sqlalchemy.
"""

from __future__ import annotations

from sqlalchemy import func, literal_column
from sqlalchemy.sql.elements import ColumnElement

# Constants are written into the SQL, not bound: an index's expression holds constants, and
# a query's bound parameter would not be recognised as the same expression.
CONFIG = literal_column("'simple'::regconfig")
_SPACE = literal_column("' '")
_EMPTY = literal_column("''")
# HTML tags (a sanitised message keeps a few) are not words of the text.
_TAG = literal_column("'<[^>]*>'")
_NOT_DIGIT = literal_column("'[^0-9]'")
_GLOBAL = literal_column("'g'")


def _words(text: ColumnElement) -> ColumnElement:
    return func.to_tsvector(CONFIG, func.regexp_replace(text, _TAG, _SPACE, _GLOBAL))


def contact_document(subject, customer_name, body) -> ColumnElement:
    """The words a contact is found by: its subject, the end customer's name, its first text."""
    text = subject.op("||")(_SPACE).op("||")(func.coalesce(customer_name, _EMPTY))
    return _words(text.op("||")(_SPACE).op("||")(body))


def message_document(body) -> ColumnElement:
    """The words of one message of a thread (its HTML tags left out)."""
    return _words(body)


def email_key(email) -> ColumnElement:
    """An e-mail address as it is compared: case does not matter."""
    return func.lower(email)


def phone_key(phone) -> ColumnElement:
    """A phone number as it is compared: its digits only (`+34 600-11 22 33` = `34600112233`)."""
    return func.regexp_replace(phone, _NOT_DIGIT, _EMPTY, _GLOBAL)
