"""The web app's language, time zone and formats: Flask-Babel set up for Spanish and English.

A person's own choice of language wins, then the locale of the firm whose pages they are on, then
their browser's. Times show in the firm's zone on a firm's pages (its business hours are what
its SLA reads), in UTC elsewhere. Money is integer minor units everywhere; only here does it
become a formatted amount.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.numbers import get_currency_precision
from flask import g, request
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    format_percent,
    get_locale,
)

from app.web.labels import label, options

LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}


def _language_of(locale: str | None) -> str | None:
    language = (locale or "").replace("_", "-").split("-")[0].lower()
    return language if language in LANGUAGES else None


def select_locale() -> str:
    user = g.get("web_user")
    chosen = _language_of(getattr(user, "language", None))
    if chosen:
        return chosen
    tenant = g.get("tenant")
    firm = _language_of(getattr(tenant, "locale", None))
    if firm:
        return firm
    return request.accept_languages.best_match(LANGUAGES) or "en"


def select_timezone() -> str:
    tenant = g.get("tenant")
    return getattr(tenant, "time_zone", None) or "UTC"


def money(amount_minor: int | None, currency: str) -> str:
    """Integer minor units as the locale writes the amount (exact: Decimal, never float)."""
    if amount_minor is None:
        return "—"
    exponent = get_currency_precision(currency)
    return format_currency(Decimal(amount_minor).scaleb(-exponent), currency)


def number(value, digits: int = 0) -> str:
    if value is None:
        return "—"
    return format_decimal(value, format=f"#,##0{'.' + '0' * digits if digits else ''}")


def percent(value, digits: int = 1) -> str:
    """A ratio (0.95) as a percentage in the locale's style."""
    if value is None:
        return "—"
    return format_percent(value, format=f"#,##0{'.' + '0' * digits if digits else ''}%")


def score(value_bps, digits: int = 1) -> str:
    """A share in basis points (8700) as a percentage in the locale's style (87.0 %)."""
    if value_bps is None:
        return "—"
    return percent(Decimal(value_bps) / 10_000, digits)


def when(value: datetime | date | None, style: str = "medium") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value, style)
    return format_date(value, style)


def seconds(value) -> str:
    """A duration in seconds as m:ss or h:mm:ss (ASA, AHT read this way on every wallboard)."""
    if value is None:
        return "—"
    total = round(float(value))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def init_app(app) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "web/translations")
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(
        money=money,
        number=number,
        percent=percent,
        score=score,
        when=when,
        duration=seconds,
        label=label,
    )
    app.jinja_env.globals.update(
        current_language=lambda: str(get_locale() or "en"), labels_of=options
    )
