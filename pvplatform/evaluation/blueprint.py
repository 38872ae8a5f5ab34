"""The evaluator's workspace (`/evaluate`) and the admin's grants and export audit (`/admin`)."""

from flask import Blueprint

bp = Blueprint("evaluation", __name__, url_prefix="/evaluate")
admin_bp = Blueprint("evaluation_admin", __name__, url_prefix="/admin")
