"""what a staff-made recovery may see, its hold, and recovery codes (issue 21)

- credential.sees_from / user_session.sees_from: the moment before which a passkey added through a
  staff member's recovery link (and each session it starts) sees nothing, until an older passkey or the
  client's recovery code unlocks it. Existing unconfirmed recoveries are locked from their recovery on:
  under the new rule time alone never unlocks the past.
- practice.recovery_hold_previous_hours / recovery_hold_changed_at: a change of the hold applies to
  recoveries started a day later; the hold is never below 72 hours.
- recovery_code, web_authn_challenge.recovery_code_id, user.recovery_code_offered_at.

Revision ID: recovery_01
Revises: 0001
Create Date: 2026-12-07 20:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "recovery_01"
down_revision = "0001"
branch_labels = None
depends_on = None

HOLD_CHECK = "ck_practice_recovery_hold_hours_range"


def _foreign_keys(on: bool) -> None:
    """SQLite rebuilds a table to change a CHECK: its old copy is dropped while other tables refer to
    it, which enforced foreign keys refuse. Nothing is deleted; the rebuilt table keeps every id."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _hold_check(low: int) -> None:
    op.execute(f"UPDATE practice SET recovery_hold_hours = {low} WHERE recovery_hold_hours < {low}")
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(HOLD_CHECK), type_="check")
        batch_op.create_check_constraint(
            "recovery_hold_hours_range", f"recovery_hold_hours BETWEEN {low} AND 720"
        )


def upgrade():
    _foreign_keys(False)  # first: on SQLite the pragma does nothing inside a transaction
    _hold_check(72)
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("lookup", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=200), nullable=False),
        sa.Column("sees_from", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_recovery_code_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint("lookup", name=op.f("uq_recovery_code_lookup")),
    )
    with op.batch_alter_table("recovery_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_code_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sees_from", sa.DateTime(), nullable=True))
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sees_from", sa.DateTime(), nullable=True))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recovery_code_offered_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recovery_hold_previous_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("recovery_hold_changed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("web_authn_challenge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recovery_code_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_web_authn_challenge_recovery_code_id_recovery_code"),
            "recovery_code",
            ["recovery_code_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.execute(
        "UPDATE credential SET sees_from = recovered_at"
        " WHERE recovered_at IS NOT NULL AND hold_until IS NOT NULL"
    )
    op.execute(
        "UPDATE user_session SET sees_from ="
        " (SELECT c.sees_from FROM credential c WHERE c.id = user_session.credential_id)"
        " WHERE credential_id IS NOT NULL"
    )
    _foreign_keys(True)


def downgrade():
    _foreign_keys(False)
    _hold_check(1)
    _foreign_keys(True)
    with op.batch_alter_table("web_authn_challenge", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_web_authn_challenge_recovery_code_id_recovery_code"), type_="foreignkey"
        )
        batch_op.drop_column("recovery_code_id")
    with op.batch_alter_table("practice", schema=None) as batch_op:
        batch_op.drop_column("recovery_hold_changed_at")
        batch_op.drop_column("recovery_hold_previous_hours")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("recovery_code_offered_at")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("sees_from")
    with op.batch_alter_table("credential", schema=None) as batch_op:
        batch_op.drop_column("sees_from")
    with op.batch_alter_table("recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_code_user_id"))
    op.drop_table("recovery_code")
