"""Locale and time-zone selection for Flask-Babel, and time formatting in the viewer's zone."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, g, request


def select_locale() -> str:
    user = g.get("user")
    if user is not None and user.locale:
        return user.locale
    if user is not None and user.practice.locale:
        return user.practice.locale
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


def select_timezone() -> str:
    user = g.get("user")
    return user.time_zone if user is not None else "UTC"


def zone(name: str | None) -> ZoneInfo:
    """A ZoneInfo for `name`, falling back to UTC for unknown names."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local(dt: datetime, tz_name: str | None) -> datetime:
    return dt.astimezone(zone(tz_name))
