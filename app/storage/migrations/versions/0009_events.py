"""events: write-a-thons, their kiosk links, and the letters written there

Revision ID: 0009
Revises: 0008

Staff create an event (name, day, place) on the steering page; its kiosk link makes letters for
one supporter after another on a shared computer, on the event's day until staff end it. Each
letter written there names its event, so staff mark an event's letters posted at once (through
the partial index, which holds only those letters), and each event keeps running counts of its
packs and letters like letter_totals. Letters written before this revision belong to no event.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AT_AN_EVENT = sa.text("event_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("kiosk_token", sa.String(length=64), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("packs", sa.Integer(), nullable=False),
        sa.Column("generated", sa.Integer(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kiosk_token"),
    )
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_letters_event_id_events", "events", ["event_id"], ["id"])
    op.create_index(
        "ix_letters_event_id",
        "letters",
        ["event_id"],
        sqlite_where=AT_AN_EVENT,
        postgresql_where=AT_AN_EVENT,
    )


def downgrade() -> None:
    op.drop_index("ix_letters_event_id", table_name="letters")
    with op.batch_alter_table("letters", schema=None) as batch_op:
        batch_op.drop_constraint("fk_letters_event_id_events", type_="foreignkey")
        batch_op.drop_column("event_id")
    op.drop_table("events")
