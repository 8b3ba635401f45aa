"""staff second factor: a TOTP secret per account and single-use recovery codes

Revision ID: 0007
Revises: 0006

A stolen password was enough to steer the campaign. An account enrolled with `letter-campaign
staff totp EMAIL` is asked, after its password, for a six-digit code (RFC 6238) or one of its
recovery codes (app/storage/staff.py).

`totp_secret` is kept as it is, not hashed: the server must compute codes from it. It is shown
once, at enrolment, and never logged, listed or put in a page. It is not encrypted with
SECRET_KEY either: enrolment runs on the command line, which then would need the server's key, and
every enrolment would break when the key is changed; whoever reads the database still lacks the
password, which is Argon2-hashed. `totp_last_step` is the last 30-second step whose code was
accepted, so that a code opens one login only. Recovery codes are Argon2-hashed like passwords;
`used_at` is set when one opens a login, and it never opens another.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("staff", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("staff", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_recovery_codes_staff_id", "staff_recovery_codes", ["staff_id"])


def downgrade() -> None:
    op.drop_table("staff_recovery_codes")
    op.drop_column("staff", "totp_last_step")
    op.drop_column("staff", "totp_secret")
