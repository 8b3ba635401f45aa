"""letter counts: running totals per official, language and country, and per day and official

Revision ID: 0003
Revises: 0002

The tables start from the letters already recorded, counted once here; from then on every
transaction that records or confirms letters adds to them. No query reads letters by day any
more, so their index by day and official goes: every letter written or confirmed paid for it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TOTALS = """
INSERT INTO letter_totals (recipient_id, language, country, generated, sent)
SELECT recipient_id, language, country, COUNT(*), COUNT(sent_on)
FROM letters GROUP BY recipient_id, language, country
"""

DAYS = """
INSERT INTO letter_days (day, recipient_id, generated, sent)
SELECT day, recipient_id, SUM(generated), SUM(sent) FROM (
    SELECT generated_on AS day, recipient_id, COUNT(*) AS generated, 0 AS sent
    FROM letters GROUP BY generated_on, recipient_id
    UNION ALL
    SELECT sent_on AS day, recipient_id, 0 AS generated, COUNT(*) AS sent
    FROM letters WHERE sent_on IS NOT NULL GROUP BY sent_on, recipient_id
) AS events GROUP BY day, recipient_id
"""


def upgrade() -> None:
    op.create_table(
        "letter_totals",
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("recipient_id", "language", "country"),
    )
    op.create_table(
        "letter_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("recipient_id", sa.String(length=64), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "recipient_id"),
    )
    op.execute(TOTALS)
    op.execute(DAYS)
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_index("ix_letters_generated_on_recipient")


def downgrade() -> None:
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_letters_generated_on_recipient", ["generated_on", "recipient_id"], unique=False
        )
    op.drop_table("letter_days")
    op.drop_table("letter_totals")
