"""Refresh requests (`refresh_requests`): a change behind a process's figures inserts one in its
own transaction; the background worker that refreshes the process deletes those it took into
account. Insert and delete only: concurrent changes never wait on one another's row.

Revision ID: 86cd3f4a69cd
Revises: 5becbd4a78c6
Create Date: 2026-12-03 05:16:16.145965

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = '86cd3f4a69cd'
down_revision = '5becbd4a78c6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('refresh_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_refresh_requests_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_requests')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('refresh_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_requests_process_id'), ['process_id'], unique=False)



def downgrade():
    with op.batch_alter_table('refresh_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_requests_process_id'))

    op.drop_table('refresh_requests')
