"""PostgreSQL row-level security: the floor under the ORM's tenant filter.

These tests talk to the database as the application's own role (through the app's session and
its scoping hooks), and read the catalog as the table owner. They prove that the app role cannot
sidestep RLS, that every tenant-owned table is protected, that RLS alone confines reads and
writes when the ORM filter is switched off or bypassed by raw SQL, and that a tenant setting
never outlives its transaction in the connection pool.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, delete, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.db import Base, UUIDPrimaryKey, db
from app.models import metadata
from tenants import scoping
from tenants.models import ApiClient, AuditLog
from tenants.scoping import (
    TenantScopeError,
    is_tenant_owned,
    tenant_scope,
    tenants_scope,
    unscoped,
)
from tests.factories import one_row_of_everything

# Unique keys on tenant-owned tables that do not lead with tenant_id, each with the reason its
# global uniqueness tells nobody anything. A new entry needs the same kind of argument.
GLOBALLY_UNIQUE_OK = {
    # Server-generated with secrets.token_urlsafe: random, never chosen by a caller.
    ("api_clients", ("client_id",)),
    # The SHA-256 of a link's secret from secrets.token_urlsafe(32): random, never chosen.
    ("account_tokens", ("token_hash",)),
}

# SECURITY DEFINER functions, each with the reason it cannot reach past the caller's firm. A new
# entry needs the same kind of argument.
DEFINERS_OK = {
    # Revision 0025: blanks the reply texts of the given contacts' `contact.message.created`
    # events, which are append-only for the app (erasure of an end customer's data). Its WHERE
    # names the caller's own write tenant (`app.tenant_id`), and the forced row-level security
    # applies to the owner as well (tests/test_data_rights.py tries another firm's contacts).
    "redact_message_bodies",
}

INSUFFICIENT_PRIVILEGE = "42501"


# --- helpers ---------------------------------------------------------------------------------


def tenant_owned_classes() -> list[type]:
    """Every mapped class whose rows belong to tenants, from the ORM registry."""
    assert metadata is Base.metadata
    return sorted(
        {m.class_ for m in Base.registry.mappers if is_tenant_owned(m.class_)},
        key=lambda cls: cls.__name__,
    )


def tenant_owned_tables() -> list[str]:
    return sorted({cls.__table__.name for cls in tenant_owned_classes()})


def _owner_dsn(database) -> str:
    return database["owner"].replace("postgresql+psycopg://", "postgresql://")


def _catalog(database, query: str, params=()) -> list[tuple]:
    """Run a catalog query as the table owner."""
    with psycopg.connect(_owner_dsn(database), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _app_role(app) -> str:
    return make_url(app.config["DATABASE_URL"]).username


def _select_tenant_ids(table: str):
    # Table names come from our own metadata, never from input.
    quoted = db.engine.dialect.identifier_preparer.quote(table)
    return text(f"SELECT tenant_id FROM {quoted}")  # noqa: S608


def _raw(statement, params=None):
    """Run raw SQL on the session's connection and transaction, past the session's hooks: the
    ORM layer refuses raw SQL on tenant-owned tables, so this is how a query escapes it."""
    return scoping.send_scope(db.session).execute(statement, params or {})


def _raw_tenant_ids(table: str) -> list[uuid.UUID | None]:
    return list(_raw(_select_tenant_ids(table)).scalars())


def _seed(factory):
    """Three tenants with rows in every tenant-owned table, plus BPO-wide (NULL tenant) rows."""
    tenants = [factory.tenant() for _ in range(3)]
    for tenant in tenants:
        factory.user("client_admin", tenant, password=None)  # a membership and an audit entry
        factory.integration_client(tenant)  # an API client and an audit entry
        one_row_of_everything(factory.app, tenant)  # every table of the operations domains
    staff = factory.user("bpo_admin", password=None)  # a BPO-wide membership
    factory.user_client(staff)  # an API client of no tenant
    return tenants


def _assert_seeded(app, tenants) -> None:
    """Guard against vacuous passes: every tenant-owned table holds rows of every tenant."""
    wanted = {t.id for t in tenants}
    with app.app_context():
        # The guard reads every tenant's rows on purpose.
        with unscoped():
            for table in tenant_owned_tables():
                missing = wanted - set(_raw_tenant_ids(table))
                assert not missing, (
                    f"{table} has no rows for some seeded tenants: extend _seed() in "
                    f"tests/test_rls.py to create {table} rows for every tenant"
                )


def _app_session_on(app, engine):
    """A session with the app's scoping hooks, bound to another engine."""
    return db.factory(app)(bind=engine)


@pytest.fixture
def migrated(app, database):
    """The run's database, migrated (the app fixture migrates it) and ready to inspect."""
    return database


# --- the app role and the catalog ------------------------------------------------------------


def test_the_app_connects_as_a_role_rls_applies_to(app, database):
    role = _app_role(app)
    with app.app_context():
        current = db.session.scalar(text("SELECT current_user"))
    assert current == role

    [(superuser, bypassrls)] = _catalog(
        database, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
    )
    assert superuser is False
    assert bypassrls is False

    owned = _catalog(
        database,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s",
        (role,),
    )
    assert owned == [], f"the app role owns {owned}: an owner may switch row-level security off"

    # Nor may it act as the owner through role membership (ALTER TABLE ... DISABLE RLS).
    owners = _catalog(
        database,
        "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relname = ANY(%s)",
        (tenant_owned_tables(),),
    )
    assert owners, "the tenant-owned tables are missing from the database"
    for (owner,) in owners:
        assert owner != role
        [(member,)] = _catalog(database, "SELECT pg_has_role(%s, %s, 'MEMBER')", (role, owner))
        assert member is False, f"the app role is a member of the table owner {owner}"


def test_the_tenant_owned_tables_are_derived_from_the_models():
    tables = tenant_owned_tables()
    # Sanity: the derivation finds the tables we know of; later ones join automatically.
    assert {"memberships", "api_clients", "audit_logs"} <= set(tables)
    assert "tenants" not in tables and "users" not in tables


def test_every_tenant_owned_table_has_forced_rls_and_a_policy(migrated):
    tables = tenant_owned_tables()
    rows = _catalog(
        migrated,
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
        " (SELECT count(*) FROM pg_policies p"
        "   WHERE p.schemaname = n.nspname AND p.tablename = c.relname)"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
        (tables,),
    )
    found = {name: (rls, forced, policies) for name, rls, forced, policies in rows}
    assert set(found) == set(tables), f"missing tables: {set(tables) - set(found)}"
    unprotected = {
        name: {"relrowsecurity": rls, "relforcerowsecurity": forced, "policies": policies}
        for name, (rls, forced, policies) in found.items()
        if not (rls and forced and policies >= 1)
    }
    assert unprotected == {}, (
        "tenant-owned tables without forced row-level security and a policy; enable it in "
        f"the migration that creates them: {unprotected}"
    )


def test_unique_keys_on_tenant_owned_tables_lead_with_tenant_id(migrated):
    rows = _catalog(
        migrated,
        "SELECT c.relname, i.relname, ix.indisprimary,"
        " ARRAY(SELECT coalesce(a.attname, '<expression>')"
        "       FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)"
        "       LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum"
        "       ORDER BY k.pos)"
        " FROM pg_index ix"
        " JOIN pg_class i ON i.oid = ix.indexrelid"
        " JOIN pg_class c ON c.oid = ix.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND (ix.indisunique OR ix.indisexclusion)"
        " AND c.relname = ANY(%s)",
        (tenant_owned_tables(),),
    )
    assert rows, "no unique indexes found at all: the catalog query is wrong"
    by_table = {cls.__table__.name: cls for cls in tenant_owned_classes()}
    exceptions = set()
    for table, index, primary, columns in rows:
        if columns[0] == "tenant_id":
            continue
        if primary and tuple(columns) == ("id",) and issubclass(by_table[table], UUIDPrimaryKey):
            continue  # a random uuid4 surrogate key, generated by the server
        exceptions.add((table, tuple(columns)))
        assert (table, tuple(columns)) in GLOBALLY_UNIQUE_OK, (
            f"unique index {index} on {table}{tuple(columns)} does not lead with tenant_id: "
            "a uniqueness check bypasses RLS and tells one tenant what another has"
        )
    # A documented exception that no longer exists must be removed from the list.
    assert exceptions == GLOBALLY_UNIQUE_OK


def test_no_view_or_function_escapes_rls(migrated):
    views = _catalog(
        migrated,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
        " AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)",
    )
    assert views == [], f"views without security_invoker bypass RLS: {views}"
    definers = _catalog(
        migrated,
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.prosecdef",
    )
    unexplained = sorted({name for (name,) in definers} - DEFINERS_OK)
    assert unexplained == [], f"SECURITY DEFINER functions run as their owner: {unexplained}"


def test_the_app_role_may_append_to_the_audit_log_but_not_rewrite_it(app, database):
    role = _app_role(app)
    privileges = {
        privilege: allowed
        for privilege, allowed in _catalog(
            database,
            "SELECT p, has_table_privilege(%s, 'audit_logs', p)"
            " FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p",
            (role,),
        )
    }
    assert privileges == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
    }


# --- reads: RLS alone ------------------------------------------------------------------------


@pytest.mark.parametrize("model", tenant_owned_classes(), ids=lambda cls: cls.__name__)
def test_rls_alone_confines_orm_reads_when_the_orm_filter_is_off(app, factory, monkeypatch, model):
    a, b, c = _seed(factory)
    _assert_seeded(app, [a, b, c])
    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", False)
    statements: list[str] = []
    table = model.__table__.name

    with app.app_context():
        engine = db.engine

        def capture(_conn, _cursor, statement, _params, _context, _many):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", capture)
        try:
            with unscoped():
                everything = {row.tenant_id for row in db.session.scalars(select(model))}
            db.session.rollback()
            with tenant_scope(a.id):
                statements.clear()
                seen = {row.tenant_id for row in db.session.scalars(select(model))}
        finally:
            event.remove(engine, "before_cursor_execute", capture)

    # The rows are there and the ORM would return them: only RLS holds them back.
    assert {a.id, b.id, c.id} <= everything
    assert seen == {a.id}
    reads = [s for s in statements if f"FROM {table}" in s]
    assert reads, statements
    assert not any(f"{table}.tenant_id IN" in s for s in reads), (
        "the ORM filter is still being applied, so this test proves nothing about RLS",
        reads,
    )


def test_the_orm_filter_detector_sees_the_filter_when_it_is_on(app, factory):
    """Control for the test above: with the filter on, its SQL does carry the tenant filter."""
    a = factory.tenant()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

        def capture(_conn, _cursor, statement, _params, _context, _many):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", capture)
        try:
            with tenant_scope(a.id):
                db.session.scalars(select(ApiClient)).all()
                db.session.scalars(select(AuditLog)).all()
        finally:
            event.remove(engine, "before_cursor_execute", capture)
    assert any("api_clients.tenant_id IN" in s for s in statements), statements
    assert any("audit_logs.tenant_id IN" in s for s in statements), statements


@pytest.mark.parametrize("orm_filter", [True, False], ids=["orm-filter-on", "orm-filter-off"])
def test_raw_sql_in_a_tenant_scope_reads_only_that_tenant(app, factory, monkeypatch, orm_filter):
    a, b, c = _seed(factory)
    _assert_seeded(app, [a, b, c])
    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", orm_filter)
    with app.app_context(), tenant_scope(a.id):
        seen = {table: set(_raw_tenant_ids(table)) for table in tenant_owned_tables()}
    assert seen == {table: {a.id} for table in tenant_owned_tables()}


def test_raw_sql_with_no_scope_reads_nothing_and_does_not_fail(app, factory):
    a, b, c = _seed(factory)
    _assert_seeded(app, [a, b, c])
    with app.app_context():
        assert scoping.current_scope() is None
        counts = {table: len(_raw_tenant_ids(table)) for table in tenant_owned_tables()}
    assert counts == dict.fromkeys(tenant_owned_tables(), 0)


def test_raw_sql_in_a_multi_tenant_scope_reads_the_set_and_nothing_else(app, factory):
    a, b, c = _seed(factory)
    _assert_seeded(app, [a, b, c])
    with app.app_context(), tenants_scope([a.id, b.id]):
        seen = {table: set(_raw_tenant_ids(table)) for table in tenant_owned_tables()}
    assert seen == {table: {a.id, b.id} for table in tenant_owned_tables()}


def test_raw_sql_in_a_scope_does_not_see_bpo_wide_rows(app, factory):
    a, *_ = _seed(factory)
    with app.app_context():
        # Control: the BPO-wide rows exist.
        with unscoped():
            assert None in _raw_tenant_ids("memberships")
        db.session.rollback()
        with tenant_scope(a.id):
            assert None not in _raw_tenant_ids("memberships")


# --- the pool: nothing survives a transaction ------------------------------------------------

SCOPES = {
    "tenant": lambda a, b: tenant_scope(a.id),
    "tenants": lambda a, b: tenants_scope([a.id, b.id]),
    "unscoped": lambda a, b: unscoped(),
}

_SETTINGS = text(
    "SELECT pg_backend_pid(),"
    " current_setting('app.tenant_id', true),"
    " current_setting('app.tenant_ids', true),"
    " current_setting('app.unscoped', true),"
    " (SELECT count(*) FROM api_clients),"
    " (SELECT count(*) FROM audit_logs)"
)


@pytest.mark.parametrize("ending", ["commit", "rollback"])
@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_no_scope_survives_in_the_pool(app, factory, scope, ending):
    a, b, _c = _seed(factory)
    engine = create_engine(app.config["DATABASE_URL"], pool_size=1, max_overflow=0)
    try:
        with app.app_context():
            session = _app_session_on(app, engine)
            try:
                with SCOPES[scope](a, b):
                    # Raw SQL past the session's hooks, on the session's transaction.
                    first_pid, _tid, _tids, _unscoped, clients, entries = (
                        scoping.send_scope(session).execute(_SETTINGS).one()
                    )
                    assert clients > 0 and entries > 0  # the scope did see rows
                    getattr(session, ending)()
            finally:
                session.close()

        # A plain connection, without the app's hooks, as any later checkout might be.
        with engine.connect() as conn:
            pid, tenant_id, tenant_ids, unscoped_on, clients, entries = conn.execute(
                _SETTINGS
            ).one()
    finally:
        engine.dispose()

    assert pid == first_pid, "the single-connection pool handed out a different connection"
    assert tenant_id in ("", None)
    assert tenant_ids in ("", None)
    assert unscoped_on != "on"
    assert (clients, entries) == (0, 0)


# --- writes ----------------------------------------------------------------------------------

_INSERT_AUDIT = text(
    "INSERT INTO audit_logs (id, tenant_id, occurred_at, action, target_type, details)"
    " VALUES (:id, :tenant_id, now(), 'test.raw', 'test', '{}')"
)
_INSERT_CLIENT = text(
    "INSERT INTO api_clients (id, tenant_id, client_id, name, redirect_uris, grant_types,"
    " scope, token_endpoint_auth_method, created_at)"
    " VALUES (:id, :tenant_id, :client_id, 'raw', '[]', '[]', '', 'none', now())"
)


def _insert(statement, tenant_id):
    params = {"id": uuid.uuid4(), "tenant_id": tenant_id, "client_id": uuid.uuid4().hex}
    _raw(statement, params)


def _assert_refused(excinfo, message: str) -> None:
    orig = excinfo.value.orig
    assert orig.sqlstate == INSUFFICIENT_PRIVILEGE, orig
    assert message in str(orig), orig


@pytest.mark.parametrize(
    "statement", [_INSERT_AUDIT, _INSERT_CLIENT], ids=["audit_logs", "api_clients"]
)
def test_raw_inserts_are_held_to_the_single_tenant_in_scope(app, factory, statement):
    a, b = factory.tenant(), factory.tenant()
    with app.app_context():
        with tenant_scope(a.id):
            _insert(statement, a.id)  # control: the tenant's own row goes in
            db.session.commit()
        for scope, tenant_id in (
            (tenant_scope(a.id), b.id),  # another tenant's row
            (tenant_scope(a.id), None),  # a BPO-wide row from inside a tenant
            (tenants_scope([a.id, b.id]), a.id),  # writes need a single tenant
            (tenants_scope([a.id, b.id]), b.id),
        ):
            with scope, pytest.raises(DBAPIError) as excinfo:
                _insert(statement, tenant_id)
            _assert_refused(excinfo, "row-level security")
            db.session.rollback()


def test_raw_updates_and_deletes_cannot_reach_or_move_to_another_tenant(app, factory):
    a, b = factory.tenant(), factory.tenant()
    factory.integration_client(a)
    b_client_id, _ = factory.integration_client(b)
    with app.app_context():
        with tenant_scope(a.id):
            renamed = _raw(
                text("UPDATE api_clients SET name = 'hijacked' WHERE tenant_id = :b"),
                {"b": b.id},
            ).rowcount
            deleted = _raw(
                text("DELETE FROM api_clients WHERE tenant_id = :b"), {"b": b.id}
            ).rowcount
            db.session.commit()
        assert (renamed, deleted) == (0, 0)

        with tenant_scope(a.id), pytest.raises(DBAPIError) as excinfo:
            _raw(
                text("UPDATE api_clients SET tenant_id = :b WHERE tenant_id = :a"),
                {"a": a.id, "b": b.id},
            )
        _assert_refused(excinfo, "row-level security")
        db.session.rollback()

        # The test checks every tenant's rows at once.
        with unscoped():
            rows = {
                (c.tenant_id, c.client_id, c.name)
                for c in db.session.scalars(
                    select(ApiClient).where(ApiClient.tenant_id.in_([a.id, b.id]))
                )
            }
    assert (b.id, b_client_id, "integration") in rows
    assert {tenant_id for tenant_id, _, _ in rows} == {a.id, b.id}


def test_raw_deletes_in_a_multi_tenant_scope_touch_nothing(app, factory):
    a, b = factory.tenant(), factory.tenant()
    factory.integration_client(a)
    factory.integration_client(b)
    delete_all = text("DELETE FROM api_clients")
    with app.app_context():
        with tenants_scope([a.id, b.id]):
            assert len(_raw_tenant_ids("api_clients")) == 2  # both are readable
            assert _raw(delete_all).rowcount == 0
            db.session.commit()
        with tenant_scope(a.id):  # control: narrowed to one tenant, its rows can go
            assert _raw(delete_all).rowcount == 1
            db.session.commit()
        # The test checks what is left of every tenant's rows.
        with unscoped():
            assert set(_raw_tenant_ids("api_clients")) == {b.id}


WRITES_IN_A_MULTI_TENANT_SCOPE = {
    "insert-naming-its-tenant": lambda a: db.session.add(
        AuditLog(tenant_id=a.id, action="test.multi", target_type="test")
    ),
    "update-of-a-loaded-row": lambda a: setattr(
        db.session.scalars(select(ApiClient).where(ApiClient.tenant_id == a.id)).one(),
        "name",
        "renamed",
    ),
    "delete-of-a-loaded-row": lambda a: db.session.delete(
        db.session.scalars(select(ApiClient).where(ApiClient.tenant_id == a.id)).one()
    ),
    "bulk-update": lambda a: db.session.execute(
        update(ApiClient).where(ApiClient.tenant_id == a.id).values(name="renamed")
    ),
    "bulk-delete": lambda a: db.session.execute(
        delete(ApiClient).where(ApiClient.tenant_id == a.id)
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES_IN_A_MULTI_TENANT_SCOPE))
def test_the_orm_refuses_what_rls_refuses_in_a_multi_tenant_scope(app, factory, write):
    """Writes need the single tenant in scope: the ORM says so before PostgreSQL does."""
    a, b = factory.tenant(), factory.tenant()
    factory.integration_client(a)
    with app.app_context():
        with pytest.raises(TenantScopeError, match="multi-tenant"), tenants_scope([a.id, b.id]):
            WRITES_IN_A_MULTI_TENANT_SCOPE[write](a)
            db.session.flush()
        db.session.rollback()
        with tenant_scope(a.id):  # control: the same write, narrowed, goes through
            WRITES_IN_A_MULTI_TENANT_SCOPE[write](a)
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize("scope", ["tenant", "unscoped"])
def test_the_app_role_cannot_update_or_delete_the_audit_log(app, factory, scope):
    a = factory.tenant()
    enter = (lambda: tenant_scope(a.id)) if scope == "tenant" else unscoped
    with app.app_context():
        with enter():
            _insert(_INSERT_AUDIT, a.id)  # appending is allowed
            db.session.commit()
        for statement in (
            text("UPDATE audit_logs SET action = 'rewritten' WHERE tenant_id = :a"),
            text("DELETE FROM audit_logs WHERE tenant_id = :a"),
        ):
            with enter(), pytest.raises(DBAPIError) as excinfo:
                _raw(statement, {"a": a.id})
            _assert_refused(excinfo, "permission denied for table audit_logs")
            db.session.rollback()
        with tenant_scope(a.id):
            actions = sorted(e.action for e in db.session.scalars(select(AuditLog)))
    assert actions == ["tenant.created", "test.raw"]


@pytest.mark.parametrize("orm_filter", [True, False], ids=["orm-filter-on", "rls-only"])
def test_an_agents_scope_hides_contacts_of_queues_it_does_not_serve(
    app, factory, monkeypatch, orm_filter
):
    # SPEC 9: what an agent's assignments allow is enforced in the data layer, so row-level
    # security must hold the agent's queue scope too, not only the ORM filter.
    from app.contacts.models import Contact

    monkeypatch.setattr(scoping, "ORM_FILTER_ENABLED", orm_filter)
    tenant = factory.tenant()
    rows = one_row_of_everything(app, tenant)
    served = uuid.uuid4()  # the agent's queue: not the one the contact waits in
    with app.app_context():
        token = scoping.bind(scoping.single(tenant.id, queue_ids=frozenset({served})))
        try:
            columns = db.session.scalars(select(Contact.id)).all()
            orm = [c.id for c in db.session.scalars(select(Contact)).all()]
            raw = _raw(text("SELECT id FROM contacts")).scalars().all()
        finally:
            db.session.rollback()
            scoping.release(token)
    assert rows["contact"] not in orm
    assert rows["contact"] not in columns
    assert rows["contact"] not in raw, "RLS lets an agent read contacts of other queues"


def _plan_cache_mode() -> str:
    return _raw(text("SHOW plan_cache_mode")).scalar_one()


def test_reads_are_planned_with_their_own_values_and_writes_may_reuse_generic_plans(app):
    # A month's report once took 4x as long on a generic plan; an intake, planning each of its
    # key lookups afresh, took a quarter longer. So the mode follows the request's method.
    seen = {}
    for method in ("GET", "POST", "PATCH", "DELETE"):
        with app.test_request_context("/healthz", method=method):
            app.preprocess_request()
            seen[method] = _plan_cache_mode()
            db.session.rollback()
            seen[method + " after rollback"] = _plan_cache_mode()
    assert seen == {
        "GET": "force_custom_plan",
        "GET after rollback": "force_custom_plan",
        "POST": "auto",
        "POST after rollback": "auto",
        "PATCH": "auto",
        "PATCH after rollback": "auto",
        "DELETE": "auto",
        "DELETE after rollback": "auto",
    }
    # Outside a request (the worker, the SLA scan, the month's close) plans stay custom.
    with app.app_context():
        assert _plan_cache_mode() == "force_custom_plan"
