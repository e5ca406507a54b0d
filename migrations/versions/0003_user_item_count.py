"""stored item count per user

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE, not batch mode: rebuilding the table on SQLite would
    # lose the lower(username) index, which SQLite cannot reflect.
    op.add_column(
        "users", sa.Column("item_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE users SET item_count = (SELECT count(*) FROM items WHERE items.owner_id = users.id)"
    )


def downgrade():
    op.drop_column("users", "item_count")
