"""Plain-text e-mail through the configured SMTP server; nothing happens when none is set.

Mail is a courtesy beside the in-app notification: a slow or broken server must never fail the
request that sends it, so errors are logged (without the message, which may carry links meant
for one person) and reported as False.
"""

from __future__ import annotations

import logging
import re
import smtplib
from email.message import EmailMessage

from flask import current_app

log = logging.getLogger(__name__)

_LINK = re.compile(r"https?://\S+")

TIMEOUT = 5  # seconds: the person clicking waits for this


def _one_line(text: str) -> str:
    # Header injection: a title with a line break must not add headers.
    return " ".join(text.split())


def mail_enabled() -> bool:
    return bool(current_app.config.get("MAIL_SERVER", ""))


def send_mail(to: str, subject: str, body: str) -> bool:
    """Sends one message; True when the server accepted it."""
    config = current_app.config
    server = (config.get("MAIL_SERVER") or "").strip()
    if not server or not to:
        if not server and config.get("LOG_MAIL_LINKS"):
            # Development without a mail server: the links (a password reset...) are logged so
            # that the developer can follow them; never the rest of the message.
            for link in _LINK.findall(body):
                log.info("mail not sent (no MAIL_SERVER); link: %s", link)
        return False
    host, _, port_text = server.partition(":")
    try:
        port = int(port_text or config.get("MAIL_PORT") or 25)
        message = EmailMessage()
        message["From"] = _one_line(config.get("MAIL_FROM") or "pvplatform@localhost")
        message["To"] = _one_line(to)
        message["Subject"] = _one_line(subject)
        message.set_content(body)
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as smtp:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
            username = config.get("MAIL_USERNAME")
            if username:
                smtp.login(username, config.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException, ValueError) as err:
        log.warning("mail not sent (%s): %s", host, err.__class__.__name__)
        return False
    return True
