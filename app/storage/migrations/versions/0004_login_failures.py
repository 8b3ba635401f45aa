"""login failures: counted per client and account, not one lock per account

Revision ID: 0004
Revises: 0003

A stranger's wrong passwords locked the account for its owner too. Failures are now rows, each
with a keyed hash of its client, kept a day: storage/staff.py locks a client after its own failures
and counts all of them against the account's budget. The old lock and count go; an account
locked at the upgrade starts afresh.

The columns are dropped with a plain ALTER TABLE (SQLite 3.35 or later), not a batch copy of the
table: SQLite would drop the old table with foreign keys on, and take every session with it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_login_failures_staff_id_failed_at", "login_failures", ["staff_id", "failed_at"]
    )
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])
    op.drop_column("staff", "locked_until")
    op.drop_column("staff", "failed_logins")


def downgrade() -> None:
    op.add_column(
        "staff", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("staff", sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_table("login_failures")
