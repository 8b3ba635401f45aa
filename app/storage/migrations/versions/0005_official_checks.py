"""official checks: staff record that an office's holder and address are still right

Revision ID: 0005
Revises: 0004

An official counts as unverified when recipients.yaml's `verified` is older than
STALE_AFTER_DAYS; a check recorded here (dashboard, `letter-campaign official verify`) counts
as a later `verified`, on every instance at once, without editing the campaign files.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "official_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_official_checks_recipient_id_checked_at",
        "official_checks",
        ["recipient_id", "checked_at"],
    )


def downgrade() -> None:
    op.drop_table("official_checks")
