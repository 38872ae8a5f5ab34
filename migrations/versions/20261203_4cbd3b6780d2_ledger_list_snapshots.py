"""Ledger list snapshots (`ledger_list_snapshots`): the process ledger's lists (each list's ids
in page order) as the background worker took them with the dashboard's figures, at the same
instant: the first ledger view after a refresh reads them instead of scanning the process.

Revision ID: 4cbd3b6780d2
Revises: 9d2c41e7b0a3
Create Date: 2026-12-03 12:25:00.000000

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = '4cbd3b6780d2'
down_revision = '9d2c41e7b0a3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ledger_list_snapshots',
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('as_of', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_ledger_list_snapshots_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('process_id', name=op.f('pk_ledger_list_snapshots'))
    )


def downgrade():
    op.drop_table('ledger_list_snapshots')
