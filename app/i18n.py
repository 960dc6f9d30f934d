"""Locale and time-zone selection for Flask-Babel, and time formatting in the viewer's zone."""

import os
from datetime import date, datetime, time
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, numbers
from babel.dates import format_skeleton, format_time, get_time_format, match_skeleton, parse_pattern
from babel.messages.extract import extract_from_file
from flask import current_app, g, request
from flask_babel import get_locale, get_timezone, get_translations, refresh, to_user_timezone

# The languages Attune ships, with complete catalogues in translations/ (tools/i18n.sh keeps them in step).
LANGUAGES = ("en", "es", "de", "fr", "ar")
JS_KEYWORDS = {"t": None, "tn": (1, 2)}


def select_locale() -> str:
    """The person's own choice, else their practice's default, else the browser's Accept-Language."""
    user = g.get("user")
    supported = current_app.config["LANGUAGES"]
    if user is not None and user.locale in supported:
        return user.locale
    practice = user.practice if user is not None else g.get("locale_practice")
    if practice is not None and practice.locale in supported:
        return practice.locale
    return request.accept_languages.best_match(supported) or "en"


def follow_practice(practice) -> None:
    """Show this request in `practice`'s language unless the signed-in person chose one: an invite
    page speaks the language its practice will use once the invitee has signed up."""
    g.locale_practice = practice
    refresh()


def language_choices() -> list[tuple[str, str]]:
    """(code, name) for each shipped language, each named in its own language so anyone can find theirs."""
    return [(code, Locale.parse(code).get_display_name(code).capitalize()) for code in LANGUAGES]


def text_direction() -> str:
    """ "rtl" or "ltr" for the page's language (base.html's <html dir>)."""
    return get_locale().text_direction if get_locale() is not None else "ltr"


@cache
def plural_samples(locale: str) -> dict[str, int]:
    """One number for each CLDR plural form of `locale` ("one": 1, "other": 0 in English)."""
    rules = Locale.parse(locale).plural_form
    samples: dict[str, int] = {}
    for n in range(200):
        samples.setdefault(rules(n), n)
    return samples


@cache
def js_messages(static_folder: str) -> tuple[str | tuple[str, str], ...]:
    """Every t("...") and tn("...", "...") message in static/js, read by the same extractor pybabel uses."""
    found: dict = {}
    folder = os.path.join(static_folder, "js")
    for name in sorted(os.listdir(folder)):
        if name.endswith(".js"):
            for _line, message, _c, _ctx in extract_from_file(
                "javascript", os.path.join(folder, name), keywords=JS_KEYWORDS
            ):
                found[message] = True
    return tuple(found)


def js_catalogue() -> dict:
    """The scripts' messages in the page's language: msgid -> text, or singular -> {plural form: text}.

    The msgids are literals in static/js, which pybabel extracts into the same catalogue as the Python
    and template strings; this only looks them up, so nothing built at run time is translated."""
    translations = get_translations()
    locale = str(get_locale() or "en")
    out: dict = {}
    for message in js_messages(current_app.static_folder):
        if isinstance(message, tuple):
            singular, plural = message
            out[singular] = {
                form: translations.ngettext(singular, plural, n)
                for form, n in plural_samples(locale).items()
            }
        else:
            out[message] = translations.gettext(message)
    return out


def install_template_gettext(env) -> None:
    """Jinja's `_()` and `ngettext()` over `catalogue()`, in place of Flask-Babel's, which looks up the
    request's context, language and domain again for every message (a dashboard has ~70)."""
    env.install_gettext_callables(
        gettext=lambda s: catalogue().ugettext(s),
        ngettext=lambda s, p, n: catalogue().ungettext(s, p, n),
        pgettext=lambda c, s: catalogue().upgettext(c, s),
        npgettext=lambda c, s, p, n: catalogue().unpgettext(c, s, p, n),
        newstyle=True,
    )
    env.filters["mean"] = format_mean


def catalogue():
    """Flask-Babel's catalogue for this request, found once per language object: `force_locale` and
    `refresh` make a new one, so a message rendered inside them is still in their language."""
    locale = get_locale()
    found = g.get("_attune_catalogue")
    if found is None or found[0] is not locale:
        found = g._attune_catalogue = (locale, get_translations())
    return found[1]


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


def format_when(value, skeleton: str, *, clock: bool = False) -> str:
    """`value` in the viewer's time zone, written the way their language writes dates: a CLDR skeleton
    ("yMMMd", "MMMEd") names the fields and each locale picks their order and separators; with `clock`,
    the time follows in the locale's own short form and date-time pattern."""
    local = to_user_timezone(value) if isinstance(value, datetime) else value
    locale = get_locale()
    day = format_skeleton(skeleton, local, locale=locale)
    if not clock:
        return day
    pattern = locale.datetime_formats["medium"]
    pattern = getattr(pattern, "pattern", pattern)
    return pattern.replace("{1}", day).replace("{0}", format_time(local, "short", locale=locale))


def format_many(values: list[datetime], skeleton: str, *, clock: bool = False) -> list[str]:
    """`format_when` of many datetimes in one request, the same text each, for a fraction of the cost:
    the zone and the language are looked up once, and a day and time already written in a language is
    not written again (`_written`): a dashboard writes a couple of hundred session times, and a client
    page the same dates on every visit."""
    if not values:
        return []
    if set(skeleton) & TIME_FIELDS:  # written from the date alone below; no page asks for this
        return [format_when(v, skeleton, clock=clock) for v in values]
    # zoneinfo converts in C; pytz's normalize per value was most of this function's time.
    tz, language = zone(str(get_timezone())), str(get_locale())
    out = []
    for v in values:
        local = v.astimezone(tz)
        at = (local.hour, local.minute) if clock else None  # what the short time formats show
        out.append(_written(language, skeleton, local.date(), at))
    return out


TIME_FIELDS = frozenset("hHkKjJmsSaAbBzZvV")  # CLDR pattern letters of a time of day or a zone


@lru_cache(maxsize=16384)
def _written(language: str, skeleton: str, day: date, at: tuple[int, int] | None) -> str:
    """A pure function of its arguments, so kept: a dashboard writes the same ~150 session times on
    every render. `format_when`'s text for a date-only `skeleton` at the local `day` and, with `at`
    (hour, minute), the short local time after it; each part written once per language (`_day`,
    `_clock`), so a first render writes its seven days and its clock times, not each pair of them."""
    text = _day(language, skeleton, day)
    if at is None:
        return text
    joined = _patterns(language, skeleton)[2]
    return joined.replace("{1}", text).replace("{0}", _clock(language, *at))


@lru_cache(maxsize=16384)
def _day(language: str, skeleton: str, day: date) -> str:
    """Babel's pattern apply took ~4 us a field."""
    locale, pattern, _joined = _patterns(language, skeleton)
    return pattern.apply(day, locale)


@lru_cache(maxsize=4096)
def _clock(language: str, hour: int, minute: int) -> str:
    """A clock time in the language's short time format (hours, minutes and am/pm are all it shows)."""
    locale = Locale.parse(language)
    return parse_pattern(get_time_format("short", locale)).apply(time(hour, minute), locale)


@cache
def _patterns(language: str, skeleton: str):
    """(locale, the skeleton's date pattern, the date-and-time pattern)."""
    locale = Locale.parse(language)
    skeletons = locale.datetime_skeletons
    matched = skeleton if skeleton in skeletons else match_skeleton(skeleton, skeletons)
    joined = locale.datetime_formats["medium"]
    return locale, parse_pattern(skeletons[matched]), getattr(joined, "pattern", joined)


# A mean in a table: one decimal always, so a column lines up ("8.0", "7.3"; "8,0" in German).
MEAN = "#,##0.0"


def decimal_writer(pattern: str | None = None):
    """Flask-Babel's `format_decimal` for the numbers of one page, in its language: the language is
    looked up once, and a number already written in it is not written again (`_decimal`): a
    dashboard's charts write about 70 numbers, most of them means with one decimal."""
    language = str(get_locale() or "en")
    return lambda value: _decimal(language, value, pattern)


def format_mean(value) -> str:
    """A table's mean in the page's language (the `mean` template filter)."""
    return decimal_writer(MEAN)(value)


@lru_cache(maxsize=4096)
def _decimal(language: str, value, pattern: str | None = None) -> str:
    """A pure function of its arguments, so kept: Babel's pattern apply took ~10 us a number."""
    return numbers.format_decimal(value, format=pattern, locale=language)
