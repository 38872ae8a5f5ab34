"""Redirect targets taken from the request must stay on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for


def safe_next(target: str | None, default_endpoint: str = "processes.home") -> str:
    if target:
        target = target.strip()
        parts = urlsplit(target)
        # Only same-site paths: no scheme, no host, no protocol-relative `//host`, no backslashes.
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
            and all(ord(c) >= 32 for c in target)
        ):
            return target
    return url_for(default_endpoint)
