"""Rate-limit counts shared by every API process (gridmap.auth.rates).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "rate_hit",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "minute", name=op.f("pk_rate_hit")),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("rate_hit")
