"""pvplatform: participatory co-creation that measures public value while the process runs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

PACKAGE_DIR = Path(__file__).resolve().parent


def create_app(config: object | str | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PACKAGE_DIR.parent / "templates"),
        static_folder=str(PACKAGE_DIR.parent / "static"),
        instance_path=str(PACKAGE_DIR.parent / "instance"),
    )
    app.config.from_object(_config_object(config))
    from pvplatform.core.base_url import init_base_url

    init_base_url(app)  # refuses to start without a safe public address in production
    trusted_proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if trusted_proxies > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies,  # type: ignore[method-assign]
                                x_proto=trusted_proxies, x_host=trusted_proxies)
    from pvplatform.core.logging import init_logging

    init_logging(app)  # before basicConfig: it sets the format with the request id
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def _config_object(config: object | str | None) -> object:
    from config import CONFIGS

    if config is None:
        config = os.environ.get("PV_CONFIG", "development")
    if isinstance(config, str):
        return CONFIGS[config]
    return config


def register_extensions(app: Flask) -> None:
    from pvplatform import models  # noqa: F401 - every model must be known to the metadata
    from pvplatform.core.i18n import select_locale, select_timezone
    from pvplatform.core.sqlite import configure_sqlite
    from pvplatform.core.statement_timeout import configure_statement_timeout
    from pvplatform.extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    from pvplatform.indicators.autorefresh import install as install_flag_refresh

    install_flag_refresh()  # stored risk flags follow every committed change
    from pvplatform.jobs.queue import init_queue

    init_queue(app)  # ... refreshed by a background worker
    from pvplatform.feedback.offers import install as install_survey_offers

    install_survey_offers()  # open survey waves reach people at their first action
    migrate.init_app(app, db, directory=str(PACKAGE_DIR.parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(PACKAGE_DIR / "translations"),
    )
    from pvplatform.core.ratelimit_storage import init_ratelimit_storage

    init_ratelimit_storage(app)  # registers `database://`, the default RATELIMIT_STORAGE_URI
    limiter.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine,
                         busy_timeout_ms=app.config.get("SQLITE_BUSY_TIMEOUT_MS", 15_000))
        configure_statement_timeout(app, db.engine)


def register_blueprints(app: Flask) -> None:
    from pvplatform.auth import membership_views  # noqa: F401 - routes on auth_bp, auth_admin_bp
    from pvplatform.auth.views import admin_bp as auth_admin_bp
    from pvplatform.auth.views import bp as auth_bp
    from pvplatform.core.views import bp as core_bp
    from pvplatform.feedback import (  # noqa: F401 - routes on feedback_bp
        admin_views,
        answer_views,
        results_views,
    )
    from pvplatform.feedback.blueprint import bp as feedback_bp
    from pvplatform.indicators import (  # noqa: F401 - routes on indicators_bp
        dashboard_views,
        index_views,
    )
    from pvplatform.indicators.views import bp as indicators_bp
    from pvplatform.ledger.views import bp as ledger_bp
    from pvplatform.moderation.views import bp as moderation_bp
    from pvplatform.notifications.views import bp as notifications_bp
    from pvplatform.participation.views import bp as participation_bp
    from pvplatform.privacy.views import bp as privacy_bp
    from pvplatform.processes.views import bp as processes_bp
    from pvplatform.proposals.views import bp as proposals_bp
    from pvplatform.sessions.views import bp as sessions_bp

    for bp in (
        core_bp,
        auth_bp,
        auth_admin_bp,
        processes_bp,
        sessions_bp,
        proposals_bp,
        moderation_bp,
        notifications_bp,
        privacy_bp,
        indicators_bp,
        participation_bp,
        ledger_bp,
        feedback_bp,
    ):
        app.register_blueprint(bp)
    from pvplatform.participation.import_views import bp as imports_bp

    app.register_blueprint(imports_bp)
    from pvplatform.auth.unblock import bp as login_unblock_bp

    app.register_blueprint(login_unblock_bp)
    register_evaluation(app)


def register_evaluation(app: Flask) -> None:
    """The evaluator's workspace and downloads, the admin's grants, the JSON API and its tokens."""
    from pvplatform.evaluation import (  # noqa: F401 - each adds its routes to a blueprint below
        admin_views,
        api,
        download_views,
        token_views,
        views,
    )
    from pvplatform.evaluation.api_blueprint import api_bp, tokens_bp
    from pvplatform.evaluation.blueprint import admin_bp, bp

    for blueprint in (bp, admin_bp, api_bp, tokens_bp):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from pvplatform.errors import register_errorhandlers as register

    register(app)


def register_commands(app: Flask) -> None:
    from pvplatform.cli import pv

    app.cli.add_command(pv)


def register_template_helpers(app: Flask) -> None:
    from pvplatform.core.security import init_security_headers
    from pvplatform.core.templating import init_templating

    init_templating(app)
    init_security_headers(app)
