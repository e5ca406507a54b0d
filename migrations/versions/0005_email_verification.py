"""email verification: a verified flag and the address waiting to be verified

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Accounts that predate verification never proved their address: they start
unverified.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE, not batch mode: rebuilding the table on SQLite would
    # lose the lower(username) index, which SQLite cannot reflect.
    op.add_column(
        "users",
        sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("users", sa.Column("pending_email", sa.String(length=254), nullable=True))


def downgrade():
    op.drop_column("users", "pending_email")
    op.drop_column("users", "email_verified")
