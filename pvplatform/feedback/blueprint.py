"""The feedback blueprint: the public values catalogue and survey waves (staff), answering
surveys (participants), and the perceived public value results (staff and elected)."""

from flask import Blueprint

bp = Blueprint("feedback", __name__)
