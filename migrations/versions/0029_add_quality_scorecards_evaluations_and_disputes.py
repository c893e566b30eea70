"""add quality scorecards, evaluations and disputes, with sampling rules and answers

Issue 18 (quality monitoring): a firm's scorecards, each in numbered versions never edited (an
evaluation keeps the version it was scored on, its sections and questions as JSON); one
sampling rule per firm; the evaluations of handled contacts (reviews by the BPO, calibrations
by the firm beside a review; a rescoring after a dispute supersedes the disputed review) with
one row per answered question for the reports; the agents' disputes. The firm's own rows
(forced row-level security in revision 0018's form), gone with the firm.

On SQLite the keys to other tenant-owned rows are single-column, as revision 0007 left every
such key there.

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-04 11:51:41
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0029"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "scorecards",
    "scorecard_versions",
    "quality_sampling_rules",
    "evaluations",
    "evaluation_answers",
    "evaluation_disputes",
)
# Revision 0016's form: the scope's id list cast once per statement, inside the sub-select.
TENANT_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = ANY ((SELECT string_to_array(NULLIF(current_setting('app.tenant_ids', true), ''), ',')::uuid[])::uuid[])
"""
WRITE_RULE = """
    (SELECT current_setting('app.unscoped', true)) = 'on'
    OR tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)
"""
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
CURRENT_REVIEW = sa.text("purpose = 'review' AND superseded_by_id IS NULL")
CALIBRATION = sa.text("purpose = 'calibration'")


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _enum(*values: str, name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _tenant_key(table: str, column: str, parent: str, ondelete: str | None = "CASCADE"):
    """The key to another of the firm's rows: (tenant_id, column) on PostgreSQL."""
    if _is_postgresql():
        return sa.ForeignKeyConstraint(
            ["tenant_id", column],
            [f"{parent}.tenant_id", f"{parent}.id"],
            name=op.f(f"fk_{table}_tenant_id_{column}_{parent}"),
            ondelete=ondelete,
        )
    return sa.ForeignKeyConstraint(
        [column], [f"{parent}.id"], name=op.f(f"fk_{table}_{column}_{parent}"), ondelete=ondelete
    )


def _owned(table: str) -> list:
    """A tenant-owned table's tenant column, id, key to its firm and primary key."""
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        # SQLite: the id alone, so the single-column keys there find a unique parent.
        sa.PrimaryKeyConstraint(
            *(("tenant_id", "id") if _is_postgresql() else ("id",)), name=op.f(f"pk_{table}")
        ),
    ]


def _stamps() -> list:
    return [_at("created_at"), _at("updated_at")]


def upgrade() -> None:
    op.create_table(
        "scorecards",
        *_owned("scorecards"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_scorecards_tenant_id_name")),
    )
    op.create_table(
        "scorecard_versions",
        *_owned("scorecard_versions"),
        sa.Column("scorecard_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sections", JSON, nullable=False),
        sa.Column("passing_score_bps", sa.Integer(), nullable=False),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("queue_ids", JSON, nullable=False),
        sa.Column("categories", JSON, nullable=False),
        _at("created_at"),
        sa.Column("created_by_user_id", sa.Uuid(), nullable=True),
        _tenant_key("scorecard_versions", "scorecard_id", "scorecards"),
        sa.UniqueConstraint(
            "tenant_id",
            "scorecard_id",
            "number",
            name=op.f("uq_scorecard_versions_tenant_id_scorecard_id_number"),
        ),
    )
    op.create_table(
        "quality_sampling_rules",
        *_owned("quality_sampling_rules"),
        sa.Column("per_agent_per_week", sa.Integer(), nullable=True),
        sa.Column("percent_bps", sa.Integer(), nullable=True),
        sa.Column("complaint_percent_bps", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_quality_sampling_rules_tenant_id")),
    )
    op.create_table(
        "evaluations",
        *_owned("evaluations"),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("queue_id", sa.Uuid(), nullable=False),
        sa.Column("scorecard_version_id", sa.Uuid(), nullable=False),
        sa.Column(
            "purpose", _enum("review", "calibration", name="evaluation_purpose"), nullable=False
        ),
        sa.Column(
            "reason",
            _enum(
                "sampled", "complaint", "chosen", "calibration", "dispute", name="evaluation_reason"
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            _enum("queued", "in_progress", "submitted", name="evaluation_state"),
            nullable=False,
        ),
        sa.Column("calibration_of_id", sa.Uuid(), nullable=True),
        sa.Column("supersedes_id", sa.Uuid(), nullable=True),
        sa.Column("superseded_by_id", sa.Uuid(), nullable=True),
        sa.Column("reviewer_user_id", sa.Uuid(), nullable=True),
        _at("claimed_at", nullable=True),
        _at("submitted_at", nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("score_bps", sa.Integer(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("critical_failed", sa.Boolean(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_evaluations_agent_id_agents")
        ),
        _tenant_key("evaluations", "contact_id", "contacts"),
        _tenant_key("evaluations", "scorecard_version_id", "scorecard_versions", None),
    )
    for columns in (
        ["tenant_id", "state", "created_at"],
        ["tenant_id", "agent_id", "submitted_at"],
        ["tenant_id", "submitted_at"],
    ):
        op.create_index(op.f(f"ix_evaluations_{'_'.join(columns)}"), "evaluations", columns)
    op.create_index(
        op.f("ix_evaluations_tenant_id_contact_id"),
        "evaluations",
        ["tenant_id", "contact_id"],
        unique=True,
        postgresql_where=CURRENT_REVIEW,
        sqlite_where=CURRENT_REVIEW,
    )
    op.create_index(
        op.f("ix_evaluations_tenant_id_calibration_of_id"),
        "evaluations",
        ["tenant_id", "calibration_of_id"],
        unique=True,
        postgresql_where=CALIBRATION,
        sqlite_where=CALIBRATION,
    )
    op.create_table(
        "evaluation_answers",
        *_owned("evaluation_answers"),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("section_key", sa.String(length=64), nullable=False),
        sa.Column("question_key", sa.String(length=64), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=False),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("earned_bps", sa.Integer(), nullable=True),
        sa.Column("critical_failed", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _tenant_key("evaluation_answers", "evaluation_id", "evaluations"),
        sa.UniqueConstraint(
            "tenant_id",
            "evaluation_id",
            "question_key",
            name=op.f("uq_evaluation_answers_tenant_id_evaluation_id_question_key"),
        ),
    )
    op.create_table(
        "evaluation_disputes",
        *_owned("evaluation_disputes"),
        sa.Column("evaluation_id", sa.Uuid(), nullable=False),
        sa.Column("raised_by_user_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", _enum("open", "decided", name="dispute_state"), nullable=False),
        sa.Column("decided_by_user_id", sa.Uuid(), nullable=True),
        _at("decided_at", nullable=True),
        sa.Column(
            "outcome", _enum("score_stands", "rescored", name="dispute_outcome"), nullable=True
        ),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("rescored_evaluation_id", sa.Uuid(), nullable=True),
        *_stamps(),
        _tenant_key("evaluation_disputes", "evaluation_id", "evaluations"),
        sa.UniqueConstraint(
            "tenant_id",
            "evaluation_id",
            name=op.f("uq_evaluation_disputes_tenant_id_evaluation_id"),
        ),
    )
    op.create_index(
        op.f("ix_evaluation_disputes_tenant_id_state_created_at"),
        "evaluation_disputes",
        ["tenant_id", "state", "created_at"],
    )
    if _is_postgresql():
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(
                f"CREATE POLICY tenant_isolation ON {table}"
                f" USING ({TENANT_RULE}) WITH CHECK ({WRITE_RULE})"
            )
            op.execute(
                f"CREATE POLICY tenant_isolation_delete ON {table} AS RESTRICTIVE FOR DELETE"
                f" USING ({WRITE_RULE})"
            )


def downgrade() -> None:
    # Dropping a table drops its indexes and policies.
    for table in reversed(TABLES):
        op.drop_table(table)
