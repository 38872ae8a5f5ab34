"""The read-only JSON API (`/api/v1`) and the personal tokens that open it (`/me/api-tokens`)."""

from flask import Blueprint

api_bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
tokens_bp = Blueprint("api_tokens", __name__, url_prefix="/me/api-tokens")
