"""Associations and their members are approved: an association named at sign-up waits for staff
(`associations.status`), a person asks to join one (`association_requests`) and becomes a member
only when staff or the association's designated contact (`users.association_contact`) approve.

Existing associations and their members were trusted before: they stay approved.

SQLite cannot alter a column or add a constraint without rebuilding the table, and rebuilding
`users` or `associations` would drop a table other tables point at (foreign keys are on): the
columns are added and dropped in place (ALTER TABLE ... ADD/DROP COLUMN), each check constraint
written on its column, on both databases.

The downgrade has nowhere to keep a request or an association that is not approved: requests
are dropped (their authors stay citizens) and so are the associations still pending or refused
that nothing points at; the version before this one would have listed them as approved.

Revision ID: af18d51e9ae3
Revises: ef6e9a21e422
Create Date: 2026-12-02 17:00:23.824263

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = 'af18d51e9ae3'
down_revision = 'ef6e9a21e422'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('association_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('association_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decision', sa.Enum('pending', 'approved', 'refused', 'withdrawn', name='membershipdecision', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('decided_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.CheckConstraint("(decision = 'pending') = (decided_at IS NULL)", name=op.f('ck_association_requests_decided_when_not_pending')),
    sa.ForeignKeyConstraint(['association_id'], ['associations.id'], name=op.f('fk_association_requests_association_id_associations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_association_requests_decided_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_association_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_association_requests'))
    )
    with op.batch_alter_table('association_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_association_requests_association_id'), ['association_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_association_requests_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_association_requests_pending', ['user_id'], unique=True, sqlite_where=sa.text("decision = 'pending'"), postgresql_where=sa.text("decision = 'pending'"))

    # In place, not in batch mode (see above). New rows are pending unless created approved;
    # the rows already there were trusted: approved.
    op.add_column('associations', sa.Column(
        'status', sa.String(length=20),
        sa.CheckConstraint("status IN ('pending', 'approved', 'refused')",
                           name=op.f('ck_associations_associationstatus')),
        nullable=False, server_default='pending'))
    op.execute("UPDATE associations SET status = 'approved'")
    op.create_index(op.f('ix_associations_status'), 'associations', ['status'], unique=False)

    # Nobody is an association's contact yet: staff designate them.
    op.add_column('users', sa.Column('association_contact', sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade():
    op.drop_column('users', 'association_contact')

    op.drop_table('association_requests')
    # What only this revision could hold: associations waiting or refused, unless something
    # points at them.
    op.execute(
        "DELETE FROM associations WHERE status <> 'approved' "
        "AND id NOT IN (SELECT association_id FROM users WHERE association_id IS NOT NULL) "
        "AND id NOT IN (SELECT association_id FROM participants "
        "WHERE association_id IS NOT NULL) "
        "AND id NOT IN (SELECT association_id FROM invitations "
        "WHERE association_id IS NOT NULL) "
        "AND id NOT IN (SELECT association_id FROM proposals WHERE association_id IS NOT NULL)")
    op.drop_index(op.f('ix_associations_status'), table_name='associations')
    op.drop_column('associations', 'status')
