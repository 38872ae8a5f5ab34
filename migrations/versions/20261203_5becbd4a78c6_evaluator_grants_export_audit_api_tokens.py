"""Evaluators: read grants and microdata agreements per process (`evaluator_grants`, revoked
rows kept), the export audit that survives the deletion of its person or process
(`export_records`), and personal read-only API tokens stored as their SHA-256 (`api_tokens`).

Revision ID: 5becbd4a78c6
Revises: 25418bad36f7
Create Date: 2026-12-03 04:21:27.055396

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = '5becbd4a78c6'
down_revision = '25418bad36f7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=20), server_default='read', nullable=False),
    sa.Column('created_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('evaluator_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.Enum('read', 'microdata', name='grantscope', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('granted_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("scope <> 'microdata' OR expires_at IS NOT NULL", name=op.f('ck_evaluator_grants_microdata_ends')),
    sa.CheckConstraint('expires_at IS NULL OR expires_at > granted_at', name=op.f('ck_evaluator_grants_ends_after_start')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['users.id'], name=op.f('fk_evaluator_grants_granted_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_evaluator_grants_process_id_processes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['users.id'], name=op.f('fk_evaluator_grants_revoked_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_evaluator_grants_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator_grants'))
    )
    with op.batch_alter_table('evaluator_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evaluator_grants_process_id'), ['process_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evaluator_grants_user_id'), ['user_id'], unique=False)

    op.create_table('export_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=300), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=True),
    sa.Column('process_title', sa.String(length=300), nullable=False),
    sa.Column('format', sa.Enum('csv', 'xlsx', 'json', 'package', 'microdata', name='exportformat', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('channel', sa.Enum('web', 'cli', 'api', name='exportchannel', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('k', sa.Integer(), nullable=True),
    sa.Column('microdata', sa.Boolean(), nullable=False),
    sa.Column('as_of', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['evaluator_grants.id'], name=op.f('fk_export_records_grant_id_evaluator_grants'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_export_records_process_id_processes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_export_records_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_records'))
    )
    with op.batch_alter_table('export_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_records_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_records_process_id'), ['process_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_records_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('export_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_records_user_id'))
        batch_op.drop_index(batch_op.f('ix_export_records_process_id'))
        batch_op.drop_index(batch_op.f('ix_export_records_created_at'))

    op.drop_table('export_records')
    with op.batch_alter_table('evaluator_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evaluator_grants_user_id'))
        batch_op.drop_index(batch_op.f('ix_evaluator_grants_process_id'))

    op.drop_table('evaluator_grants')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
