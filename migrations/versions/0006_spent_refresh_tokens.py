"""spent refresh tokens: the table says what it holds, without the reason every row shared

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Since logout ends its session instead, every row of `revoked_tokens` is a
refresh token spent by rotation; its ids move over as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "spent_refresh_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_spent_refresh_tokens_expires_at", "spent_refresh_tokens", ["expires_at"])
    op.execute(
        "INSERT INTO spent_refresh_tokens (jti, expires_at) SELECT jti, expires_at FROM revoked_tokens"
    )
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")


def downgrade():
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.execute(
        "INSERT INTO revoked_tokens (jti, reason, expires_at) "
        "SELECT jti, 'rotated', expires_at FROM spent_refresh_tokens"
    )
    op.drop_index("ix_spent_refresh_tokens_expires_at", table_name="spent_refresh_tokens")
    op.drop_table("spent_refresh_tokens")
