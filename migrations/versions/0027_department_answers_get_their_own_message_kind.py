"""department answers get their own message kind

Issue 17: a department's answer through its mail's link joined the contact's thread as a `note`
with the department's name as author, so the firm's integration saw it only when the firm shares
notes, and the desk told it from an agent's note by its author alone. It is the firm's own
department's words, not the BPO's internal note: it is now a message of kind `department`,
which the firm's integration always reads. `contact_messages.kind` is a string with a named
CHECK constraint (app.db.str_enum), replaced by one that admits the new value.

Existing answers are identifiable: their author is the department's API identity
(`department:<id>`, app/contacts/department_answers.py). Downgrading turns them back into notes.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 12:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("inbound", "reply", "note")
NEW = (*OLD, "department")
ANSWERS = "author_client_id LIKE 'department:%'"


def _replace_check(kinds: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{k}'" for k in kinds)
    name = op.f("ck_contact_messages_message_kind")
    # SQLite cannot alter a constraint: batch mode copies the table with the new one.
    with op.batch_alter_table("contact_messages") as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, f"kind IN ({allowed})")


def _every_firm() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Every firm's messages, under forced row-level security.
        op.execute("SELECT set_config('app.unscoped', 'on', true)")


def upgrade() -> None:
    _replace_check(NEW)
    _every_firm()
    op.execute(f"UPDATE contact_messages SET kind = 'department' WHERE kind = 'note' AND {ANSWERS}")


def downgrade() -> None:
    _every_firm()
    op.execute("UPDATE contact_messages SET kind = 'note' WHERE kind = 'department'")
    _replace_check(OLD)
