"""embed counts: letters made through the form framed on an allowed organisation's site

Revision ID: 0008
Revises: 0007

The dashboard shows how many packs and letters (`generated`, as in letter_totals) came through
the embed for each origin in EMBED_ORIGINS. Only the origin the snippet names is kept, never
anything about the visitor, and the row is written in the same transaction as the letters it
counts (storage/letters.py). The table starts empty: no letter before this revision came through an
embed.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "embed_counts",
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("packs", sa.Integer(), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("origin"),
    )


def downgrade() -> None:
    op.drop_table("embed_counts")
