from flask import Blueprint

bp = Blueprint("moderation", __name__)


@bp.route("/moderation")
def queue():
    return "", 501


@bp.route("/audit")
def audit_log():
    return "", 501
