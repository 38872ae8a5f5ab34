"""Indicator contract version 2: perceptions with "don't know" answers and session pulses,
speaking turns, the evidence (p-value) of flags, and the renamed duality threshold.

Revision ID: ef6e9a21e422
Revises: c582afb807aa
Create Date: 2026-12-02 15:55:00.493425

"""
from alembic import op
import sqlalchemy as sa
import pvplatform.db


# revision identifiers, used by Alembic.
revision = 'ef6e9a21e422'
down_revision = 'c582afb807aa'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('speaking_turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('started_at', pvplatform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ended_at', pvplatform.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('ended_at IS NULL OR ended_at > started_at', name=op.f('ck_speaking_turns_ends_after_start')),
    sa.ForeignKeyConstraint(['meeting_id'], ['sessions.id'], name=op.f('fk_speaking_turns_meeting_id_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], name=op.f('fk_speaking_turns_participant_id_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_speaking_turns_recorded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_speaking_turns')),
    sa.UniqueConstraint('meeting_id', 'participant_id', 'started_at', name=op.f('uq_speaking_turns_meeting_id_participant_id_started_at'))
    )
    with op.batch_alter_table('speaking_turns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_speaking_turns_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_speaking_turns_participant_id'), ['participant_id'], unique=False)

    with op.batch_alter_table('flag_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('p_value', sa.Float(), nullable=True))

    with op.batch_alter_table('flag_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('p_value', sa.Float(), nullable=True))

    # The session column only means something for the session wave (a pulse is about one
    # session); version 1 kept whatever an import brought. A session-wave answer that names no
    # session cannot be attributed to anything and is refused from now on.
    op.execute("UPDATE perceptions SET meeting_id = NULL WHERE wave <> 'session'")
    op.execute("DELETE FROM perceptions WHERE wave = 'session' AND meeting_id IS NULL")
    with op.batch_alter_table('perceptions', schema=None) as batch_op:
        batch_op.alter_column('score',
               existing_type=sa.SMALLINT(),
               nullable=True)
        batch_op.drop_constraint(batch_op.f('uq_perceptions_participant_id_public_value_id_wave_answered_at'), type_='unique')
        batch_op.drop_constraint(batch_op.f('ck_perceptions_score_1_to_5'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_perceptions_score_1_to_5'), 'score IS NULL OR score BETWEEN 1 AND 5')
        batch_op.create_check_constraint(
            batch_op.f('ck_perceptions_session_wave_has_session'),
            "(wave = 'session') = (meeting_id IS NOT NULL)")
        batch_op.create_index(batch_op.f('ix_perceptions_meeting_id'), ['meeting_id'], unique=False)
    # NULLs are distinct in a unique constraint: the session is folded to 0 for the other waves.
    op.create_index('uq_perceptions_answer', 'perceptions',
                    ['participant_id', 'public_value_id', 'wave',
                     sa.text('coalesce(meeting_id, 0)'), 'answered_at'], unique=True)

    # INDICATORS.md version 2 names the duality threshold duality_delta.
    op.execute("UPDATE process_thresholds SET name = 'duality_delta' "
               "WHERE name = 'duality_min_delta'")



def downgrade():
    op.execute("UPDATE process_thresholds SET name = 'duality_min_delta' "
               "WHERE name = 'duality_delta'")
    # Version 1 had no "don't know" and one answer per wave and instant whatever the session.
    op.execute("DELETE FROM perceptions WHERE score IS NULL")
    op.execute("DELETE FROM perceptions WHERE id NOT IN (SELECT min(id) FROM perceptions "
               "GROUP BY participant_id, public_value_id, wave, answered_at)")
    op.drop_index('uq_perceptions_answer', table_name='perceptions')
    with op.batch_alter_table('perceptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_perceptions_meeting_id'))
        batch_op.drop_constraint(batch_op.f('ck_perceptions_session_wave_has_session'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_perceptions_score_1_to_5'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_perceptions_score_1_to_5'), 'score BETWEEN 1 AND 5')
        batch_op.create_unique_constraint(batch_op.f('uq_perceptions_participant_id_public_value_id_wave_answered_at'), ['participant_id', 'public_value_id', 'wave', 'answered_at'])
        batch_op.alter_column('score',
               existing_type=sa.SMALLINT(),
               nullable=False)

    with op.batch_alter_table('flag_records', schema=None) as batch_op:
        batch_op.drop_column('p_value')

    with op.batch_alter_table('flag_events', schema=None) as batch_op:
        batch_op.drop_column('p_value')

    with op.batch_alter_table('speaking_turns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_speaking_turns_participant_id'))
        batch_op.drop_index(batch_op.f('ix_speaking_turns_meeting_id'))

    op.drop_table('speaking_turns')
