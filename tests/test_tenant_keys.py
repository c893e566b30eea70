"""Every key of a tenant-owned table leads with tenant_id, in the migrated PostgreSQL schema.

Two reasons, both tested here: the database itself refuses a row that points at another
tenant's row, and the schema can be distributed by tenant_id (Citus; docs/scaling.md).
"""

from __future__ import annotations

import psycopg
import pytest

from app.models import metadata
from tests.factories import one_row_of_everything
from tests.http_helpers import psycopg_url

# Tables whose tenant_id may be NULL (the BPO's own rows) cannot be distributed; they would be
# reference tables (docs/scaling.md), so their keys are not required to lead with tenant_id.
TENANT_TABLES = sorted(
    t.name for t in metadata.tables.values() if "tenant_id" in t.c and not t.c.tenant_id.nullable
)
# The policies' own escape hatch (what `unscoped()` sets), so the statements below reach the
# other tenant's rows and only the foreign key can stop them.
UNSCOPED = "SELECT set_config('app.unscoped', 'on', true)"


def _rows(database, query: str, *params) -> list[tuple]:
    with psycopg.connect(psycopg_url(database["owner"])) as conn:
        return conn.execute(query, params).fetchall()


def _constraints(database, *, kinds: str) -> list[tuple[str, str, str, list[str], str | None]]:
    """(table, constraint, kind, columns in key order, referred table) of the tenant tables."""
    return [
        (table, name, kind, list(columns), referred)
        for table, name, kind, columns, referred in _rows(
            database,
            """
            SELECT rel.relname, con.conname, con.contype,
                   ARRAY(SELECT att.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
                         JOIN pg_attribute att
                           ON att.attrelid = con.conrelid AND att.attnum = k.num
                         ORDER BY k.ord),
                   ref.relname
            FROM pg_constraint con
            JOIN pg_class rel ON rel.oid = con.conrelid
            LEFT JOIN pg_class ref ON ref.oid = con.confrelid
            WHERE rel.relname = ANY(%s) AND con.contype = ANY(%s)
            """,
            TENANT_TABLES,
            list(kinds),
        )
    ]


def test_every_tenant_table_is_keyed_by_tenant_then_id(app, database):
    keys = {table: columns for table, _, _, columns, _ in _constraints(database, kinds="p")}

    assert len(TENANT_TABLES) >= 20
    assert keys == {table: ["tenant_id", "id"] for table in TENANT_TABLES}


def test_every_unique_key_of_a_tenant_table_leads_with_tenant_id(app, database):
    uniques = _constraints(database, kinds="u")
    unique_indexes = _rows(
        database,
        """
        SELECT tablename, indexname FROM pg_indexes
        WHERE tablename = ANY(%s) AND indexdef LIKE 'CREATE UNIQUE INDEX%%'
          AND indexdef NOT LIKE '%%(tenant_id%%'
        """,
        TENANT_TABLES,
    )

    assert uniques, "the tenant tables have unique keys to check"
    assert [u for u in uniques if u[3][0] != "tenant_id"] == []
    assert unique_indexes == []


def test_keys_between_tenant_tables_lead_with_tenant_id_and_reference_tenant_and_id(app, database):
    foreign = _constraints(database, kinds="f")
    between_tenant_tables = [fk for fk in foreign if fk[4] in TENANT_TABLES]

    assert len(between_tenant_tables) >= 12
    for table, name, _, columns, _ in between_tenant_tables:
        assert columns[0] == "tenant_id" and len(columns) == 2, (table, name, columns)
    # Every other key points at a BPO-level table (tenants, agents): Citus reference tables.
    others = {fk[4] for fk in foreign if fk[4] not in TENANT_TABLES}
    assert others <= {"tenants", "agents"}


def test_the_database_refuses_a_contact_in_another_tenants_queue(app, database, factory):
    """Even with the ORM out of the way and row-level security opened wide (unscoped SQL as the
    table owner), a contact cannot be moved into another tenant's queue."""
    acme, globex = factory.tenant(), factory.tenant()
    acme_rows = one_row_of_everything(app, acme)
    globex_rows = one_row_of_everything(app, globex)

    with (
        psycopg.connect(psycopg_url(database["owner"])) as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation) as refused,
    ):
        conn.execute(UNSCOPED)
        conn.execute(
            "UPDATE contacts SET queue_id = %s WHERE id = %s",
            (globex_rows["queue"], acme_rows["contact"]),
        )

    assert "fk_contacts_tenant_id_queue_id_queues" in str(refused.value)


def test_an_invoice_line_cannot_hang_off_another_tenants_invoice(app, database, factory):
    acme, globex = factory.tenant(), factory.tenant()
    acme_rows = one_row_of_everything(app, acme)
    globex_rows = one_row_of_everything(app, globex)

    with (
        psycopg.connect(psycopg_url(database["owner"])) as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation),
    ):
        conn.execute(UNSCOPED)
        conn.execute(
            "UPDATE invoice_lines SET invoice_id = %s WHERE id = %s",
            (globex_rows["invoice"], acme_rows["invoice_line"]),
        )
