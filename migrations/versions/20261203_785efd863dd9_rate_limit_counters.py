"""Rate-limit counters (`rate_limit_counters`): Flask-Limiter's fixed windows and the login
lockout's failures, one row per key until it expires, shared by every worker and instance
(RATELIMIT_STORAGE_URI=database://, the default). Written one autocommitted statement at a time,
never in a request's transaction; expired rows are swept on writes.

Revision ID: 785efd863dd9
Revises: f3230f2d3d66
Create Date: 2026-12-03 07:30:00.000000

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = '785efd863dd9'
down_revision = 'f3230f2d3d66'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_counters',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit_counters'))
    )
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_counters_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('rate_limit_counters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rate_limit_counters_expires_at'))

    op.drop_table('rate_limit_counters')
