"""Configuration read from the environment; classes per deployment kind."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        INSTANCE_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'pvplatform.sqlite'}"
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants a driver name.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    # A stable key per instance folder so that `make run` restarts keep people logged in.
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _queue_url(database_url: str) -> str:
    """Where refresh jobs wait: PV_QUEUE_URL, else the application's PostgreSQL (shared by every
    machine), else a SQLite file beside the database."""
    url = os.environ.get("PV_QUEUE_URL", "").strip()
    if url:
        return url
    if database_url.startswith("postgresql"):
        return database_url
    INSTANCE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{INSTANCE_DIR / 'queue.sqlite'}"


class Config:
    SECRET_KEY = _secret_key()
    # A change behind the stored risk flags asks a background worker (`flask pv worker`) to
    # refresh them: `background`; `inline` refreshes in the change's own transaction; `off`
    # leaves it to `flask pv recompute` (cron). FLAGS_AUTO_REFRESH=0 is the older `off`.
    FLAGS_AUTO_REFRESH = os.environ.get("FLAGS_AUTO_REFRESH", "1") != "0"
    PV_REFRESH = os.environ.get("PV_REFRESH", "background")
    SQLALCHEMY_DATABASE_URI = _database_url()
    PV_QUEUE_URL = _queue_url(SQLALCHEMY_DATABASE_URI)
    # Seconds between two refreshes of one process: under a sustained load (a final vote) the
    # worker recomputes at most this often instead of without pause, leaving the processor to
    # the requests; the flags stay within this plus one computation of the data.
    PV_REFRESH_MIN_INTERVAL = float(os.environ.get("PV_REFRESH_MIN_INTERVAL", "2"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # On PostgreSQL, a statement sent for a web request is cancelled after this many seconds
    # (the request answers 503): under gunicorn's 30 s timeout, which would kill the worker but
    # leave the statement running on the server. 0: no limit. Command-line work is not limited.
    PV_STATEMENT_TIMEOUT = float(os.environ.get("PV_STATEMENT_TIMEOUT", "25"))
    # The same for each statement of the worker's reading of a process (PostgreSQL): a reading
    # cancelled there samples the tables again and is retried by the minute sweep.
    PV_WORKER_STATEMENT_TIMEOUT = float(os.environ.get("PV_WORKER_STATEMENT_TIMEOUT", "300"))
    WTF_CSRF_TIME_LIMIT = 3600 * 4
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 16 * 1024 * 1024))
    BABEL_DEFAULT_LOCALE = "fr"
    BABEL_DEFAULT_TIMEZONE = os.environ.get("PV_TIMEZONE", "Europe/Paris")
    LANGUAGES = ("fr", "en")
    PV_TIMEZONE = os.environ.get("PV_TIMEZONE", "Europe/Paris")
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=30)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    REMEMBER_COOKIE_DURATION = timedelta(hours=12)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # Rate-limit counters and failed logins: `database://` keeps them in the application's own
    # database, shared by every worker and instance (pvplatform.core.ratelimit_storage); a
    # `redis://` (or any `limits`) URI when set.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "").strip() or "database://"
    # A counter that cannot be read or written answers 503 "busy": a limit is never skipped.
    RATELIMIT_SWALLOW_ERRORS = False
    # How many reverse proxies stand in front of the app. Only then are X-Forwarded-* headers
    # believed: the per-address login throttle must see the client, not the proxy, yet a client
    # talking to the app directly must not choose its own address by sending the header.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    RATELIMIT_HEADERS_ENABLED = True
    # The platform's public address (https://participation.town.example): links in e-mails
    # are built from it, never from the request's Host header. Required in production;
    # development and tests fall back on SERVER_NAME or http://127.0.0.1:5000.
    PV_BASE_URL = os.environ.get("PV_BASE_URL", "").strip()
    PV_BASE_URL_REQUIRED = False
    # Host names answered besides PV_BASE_URL's (comma-separated, `.town.example` for its
    # subdomains); any other Host header gets a 400. Becomes Flask's TRUSTED_HOSTS.
    PV_TRUSTED_HOSTS = os.environ.get("PV_TRUSTED_HOSTS", "")
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_FROM = os.environ.get("MAIL_FROM", "pvplatform@localhost")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = os.environ.get("MAIL_USE_TLS", "0") == "1"
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    # Without a mail server, development logs password-reset links (never production).
    LOG_MAIL_LINKS = False
    # Dashboards hide figures resting on fewer people than this (INDICATORS.md: 5, never below 3).
    PV_DASHBOARD_MIN_CELL = int(os.environ.get("PV_DASHBOARD_MIN_CELL", "5"))
    # What leaves the platform (evaluator pages, downloads, the evaluator API) is suppressed
    # harder than staff dashboards: INDICATORS.md, privacy.
    PV_EXPORT_MIN_CELL = int(os.environ.get("PV_EXPORT_MIN_CELL", "10"))
    PV_API_RATE_LIMIT = os.environ.get("PV_API_RATE_LIMIT", "120/minute")  # per token
    PV_API_ADDRESS_RATE_LIMIT = os.environ.get("PV_API_ADDRESS_RATE_LIMIT", "600/minute")
    PROPOSAL_TITLE_MAX = 200
    PROPOSAL_BODY_MAX = 10_000
    COMMENT_MAX = 5_000


class DevelopmentConfig(Config):
    DEBUG = False
    LOG_MAIL_LINKS = True


class ProductionConfig(Config):
    PV_BASE_URL_REQUIRED = True
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = os.environ.get("PV_TEST_DATABASE_URL", "sqlite://")
    FLAGS_AUTO_REFRESH = os.environ.get("PV_TEST_FLAGS_AUTO_REFRESH", "1") != "0"
    # Tests read the flags a change moved right after it; the background path has its own tests.
    PV_REFRESH = "inline"
    PV_QUEUE_URL = "memory://"
    PV_REFRESH_MIN_INTERVAL = 0.0
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    PASSWORD_HASH_FAST = True


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestConfig,
}
