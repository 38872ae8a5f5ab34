"""Surveys of perceived public value: the catalogue in French and English with an order
(`public_values`), the baseline and final waves (`survey_waves`), the pulse about each held
session with the values it asks (`session_pulses`, `pulse_values`), who was asked what, and
reminded once (`survey_invitations`), and the private "what would have made it better?" answers
(`pulse_comments`).

`public_values` is pointed at by `perceptions`: its columns are added and dropped in place
(ALTER TABLE ... ADD/DROP COLUMN), not by rebuilding the table, which on SQLite with foreign keys
on would cascade to the answers.

Revision ID: 25418bad36f7
Revises: af18d51e9ae3
Create Date: 2026-12-02 19:28:20.010902

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = '25418bad36f7'
down_revision = 'af18d51e9ae3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('session_pulses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('sent_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('closes_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('closes_at >= sent_at', name=op.f('ck_session_pulses_closes_after_sent')),
    sa.ForeignKeyConstraint(['meeting_id'], ['sessions.id'], name=op.f('fk_session_pulses_meeting_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sent_by_id'], ['users.id'], name=op.f('fk_session_pulses_sent_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_pulses')),
    sa.UniqueConstraint('meeting_id', name=op.f('uq_session_pulses_meeting_id'))
    )
    op.create_table('survey_waves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Enum('baseline', 'session', 'final', name='wave', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('opened_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('closed_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("wave IN ('baseline', 'final')", name=op.f('ck_survey_waves_baseline_or_final')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['users.id'], name=op.f('fk_survey_waves_closed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_survey_waves_opened_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_survey_waves_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_waves')),
    sa.UniqueConstraint('process_id', 'wave', name=op.f('uq_survey_waves_process_id_wave'))
    )
    with op.batch_alter_table('survey_waves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_waves_process_id'), ['process_id'], unique=False)

    op.create_table('pulse_comments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(length=1000), nullable=False),
    sa.Column('written_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['sessions.id'], name=op.f('fk_pulse_comments_meeting_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_pulse_comments_participant_id_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pulse_comments')),
    sa.UniqueConstraint('meeting_id', 'participant_id', name=op.f('uq_pulse_comments_meeting_id_participant_id'))
    )
    with op.batch_alter_table('pulse_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pulse_comments_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pulse_comments_participant_id'), ['participant_id'], unique=False)

    op.create_table('pulse_values',
    sa.Column('pulse_id', sa.Integer(), nullable=False),
    sa.Column('public_value_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['public_value_id'], ['public_values.id'], name=op.f('fk_pulse_values_public_value_id_public_values'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pulse_id'], ['session_pulses.id'], name=op.f('fk_pulse_values_pulse_id_session_pulses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pulse_id', 'public_value_id', name=op.f('pk_pulse_values'))
    )
    op.create_table('survey_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Enum('baseline', 'session', 'final', name='wave', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('offered_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reminded_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(wave = 'session') = (meeting_id IS NOT NULL)", name=op.f('ck_survey_invitations_session_wave_has_session')),
    sa.ForeignKeyConstraint(['meeting_id'], ['sessions.id'], name=op.f('fk_survey_invitations_meeting_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_survey_invitations_participant_id_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_survey_invitations_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_invitations'))
    )
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_invitations_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_invitations_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_invitations_process_id'), ['process_id'], unique=False)
    # NULLs are distinct in a unique constraint: the session is folded to 0 for the other waves.
    op.create_index('uq_survey_invitations_once', 'survey_invitations',
                    ['process_id', 'participant_id', 'wave', sa.text('coalesce(meeting_id, 0)')],
                    unique=True)

    op.add_column('public_values', sa.Column('name_en', sa.String(length=200), server_default='', nullable=False))
    op.add_column('public_values', sa.Column('statement', sa.String(length=300), server_default='', nullable=False))
    op.add_column('public_values', sa.Column('statement_en', sa.String(length=300), server_default='', nullable=False))
    op.add_column('public_values', sa.Column('position', sa.Integer(), server_default='0', nullable=False))



def downgrade():
    for column in ('position', 'statement_en', 'statement', 'name_en'):
        op.drop_column('public_values', column)

    op.drop_index('uq_survey_invitations_once', table_name='survey_invitations')
    with op.batch_alter_table('survey_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_invitations_process_id'))
        batch_op.drop_index(batch_op.f('ix_survey_invitations_participant_id'))
        batch_op.drop_index(batch_op.f('ix_survey_invitations_meeting_id'))

    op.drop_table('survey_invitations')
    op.drop_table('pulse_values')
    with op.batch_alter_table('pulse_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pulse_comments_participant_id'))
        batch_op.drop_index(batch_op.f('ix_pulse_comments_meeting_id'))

    op.drop_table('pulse_comments')
    with op.batch_alter_table('survey_waves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_waves_process_id'))

    op.drop_table('survey_waves')
    op.drop_table('session_pulses')
