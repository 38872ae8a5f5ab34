"""English labels of demographic dimensions and categories (`dimensions.label_en`,
`strata.label_en`): `label` stays the French (reference) name; pages in English show `label_en`
and fall back to `label`, then to the code. Existing rows get no English label.

A nullable column needs no table rebuild on SQLite: the columns are added and dropped in place
(ALTER TABLE ... ADD/DROP COLUMN) on both databases.

Revision ID: 9d2c41e7b0a3
Revises: 785efd863dd9
Create Date: 2026-12-03 08:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d2c41e7b0a3'
down_revision = "785efd863dd9"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('dimensions', sa.Column('label_en', sa.String(length=120), nullable=True))
    op.add_column('strata', sa.Column('label_en', sa.String(length=120), nullable=True))


def downgrade():
    op.drop_column('strata', 'label_en')
    op.drop_column('dimensions', 'label_en')
