from flask import Blueprint

bp = Blueprint("notifications", __name__)


@bp.route("/notifications")
def index():
    return "", 501
