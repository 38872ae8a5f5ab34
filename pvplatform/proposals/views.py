from flask import Blueprint

bp = Blueprint("proposals", __name__)


@bp.route("/review")
def review_queue():
    return "", 501
