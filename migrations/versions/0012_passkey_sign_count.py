"""passkeys: a sign counter as wide as WebAuthn's (an unsigned 32-bit number)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

PostgreSQL's integer stops at 2**31 - 1, where an authenticator's counter
may go on to 2**32 - 1. SQLite's integers are 64-bit already, and its
column stays as it is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("passkeys", "sign_count", type_=sa.BigInteger(), existing_nullable=False)


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("passkeys", "sign_count", type_=sa.Integer(), existing_nullable=False)
