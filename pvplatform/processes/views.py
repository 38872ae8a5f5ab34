from flask import Blueprint

bp = Blueprint("processes", __name__)


@bp.route("/")
def home():
    return "", 501


@bp.route("/manage")
def admin_list():
    return "", 501
