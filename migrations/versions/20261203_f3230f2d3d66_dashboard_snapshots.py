"""Dashboard snapshots (`dashboard_snapshots`): the dashboard's inputs for a process as the
background worker last computed them, with the data version (the newest refresh request taken
into account): the live dashboard reads them instead of computing.

Revision ID: f3230f2d3d66
Revises: 86cd3f4a69cd
Create Date: 2026-12-03 05:28:45.337147

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = 'f3230f2d3d66'
down_revision = '86cd3f4a69cd'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dashboard_snapshots',
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('data_version', sa.BigInteger(), nullable=False),
    sa.Column('computed_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_dashboard_snapshots_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('process_id', name=op.f('pk_dashboard_snapshots'))
    )


def downgrade():
    op.drop_table('dashboard_snapshots')
