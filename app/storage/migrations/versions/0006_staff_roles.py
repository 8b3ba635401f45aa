"""staff roles: viewer, organiser, admin

Revision ID: 0006
Revises: 0005

Every account could do everything, closing the campaign included; a campaign group hands read
access to volunteers and press officers. `viewer` sees the numbers and the export, `organiser`
also steers the campaign, `admin` also manages staff accounts (app/storage/staff.py). Accounts that
exist at the upgrade could steer before, so they become `organiser`; an operator then names
the admins with `letter-campaign staff role EMAIL admin`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "staff",
        sa.Column("role", sa.String(length=16), nullable=False, server_default="organiser"),
    )


def downgrade() -> None:
    op.drop_column("staff", "role")
