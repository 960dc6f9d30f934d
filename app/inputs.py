"""One way to read each kind of request input, applied to every route (issue 10.1, SECURITY 15).

- Path ids: the app's `int` URL converter matches only 1 to 2**31 - 1, the range of the id columns, so an
  id PostgreSQL could not compare ("integer out of range") is a 404 before any view runs.
- Query ids: `int_arg` reads a bounded whole number or answers 400 naming the argument.
- JSON: the app's JSON provider refuses bodies nested deeper than `MAX_JSON_DEPTH`, NaN and Infinity, and
  turns the parser's RecursionError into a ValueError, so even `get_json(silent=True)` sees None, never a
  crash. `MAX_CONTENT_LENGTH` (config.py) bounds the size of every body.
- JSON objects: `json_object(*fields)` is the one reader the JSON views use: a closed schema, so a field
  nobody reads is a 422 naming it rather than something silently accepted (an empty body reads as {}).
- Forms: only `/api/` routes read JSON. The HTML routes read forms, and Flask-WTF would otherwise feed a
  JSON body to a form field by field (a list, an object or a bare number where a string belongs: a crash),
  so a JSON body elsewhere is a 400.
- Text: `check_request` runs before every view (after CSRF's check) and answers 400 naming the field when
  any path, query, form or JSON string (or key) holds NUL, a lone surrogate or a control character other
  than tab, CR and LF; query strings are single-line, so CR and LF are refused there too. (A `next` in a
  form or JSON body is made safe by `safe_next`, which rebuilds it as a same-site path.)
"""

import json
import re

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, UnprocessableEntity
from werkzeug.routing import IntegerConverter

ID_MAX = 2**31 - 1  # PostgreSQL `integer`, the type of every id column
MAX_JSON_DEPTH = 20
# C0 and C1 controls but tab, LF and CR (a textarea sends CRLF), DEL, and lone surrogates (unencodable).
FREE_TEXT_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
SINGLE_LINE_REFUSED = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")
FIELD_SHOWN = 40
API_PREFIX = "/api/"  # the JSON routes; every other route is a page or a form
# The bodies Werkzeug parses into `request.form`; for any other type the form is empty, unparsed.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class BadInput(BadRequest):
    """A 400 that names the field at fault (the error handler adds `field` to JSON answers)."""

    def __init__(self, description: str, field: str | None = None):
        super().__init__(description)
        self.field = field


class UnknownFields(UnprocessableEntity):
    """A 422 naming the first field the route does not take."""

    def __init__(self, description: str, field: str):
        super().__init__(description)
        self.field = field


class DatabaseId(IntegerConverter):
    """`<int:...>` for ids: ASCII digits, at most ten of them, within 1..ID_MAX (else no match: 404)."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits: int = 0, min: int = 1, max: int = ID_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)


def loads(s: str | bytes, **kwargs):
    """`json.loads` that raises ValueError for deep nesting (never RecursionError), NaN and Infinity."""
    kwargs.setdefault("parse_constant", _refuse_constant)
    try:
        value = json.loads(s, **kwargs)
    except RecursionError as err:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from err
    if depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading with `loads` (so `request.get_json` has the same limits)."""

    def loads(self, s: str | bytes, **kwargs):
        return loads(s, **kwargs)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def depth(value) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), without recursion."""
    if not isinstance(value, CONTAINERS):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:  # only containers are stacked: a body's many scalars cost one isinstance each
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, CONTAINERS))
    return deepest


CONTAINERS = (dict, list)


def int_arg(name: str, *, low: int = 1, high: int = ID_MAX) -> int | None:
    """The query argument `name` as a whole number in low..high, None when absent or empty, else 400."""
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if raw.isascii() and raw.lstrip("-").isdigit() and len(raw) <= 20 and low <= int(raw) <= high:
        return int(raw)
    raise BadInput(
        _(
            "%(name)s must be a whole number from %(low)s to %(high)s.",
            name=name,
            low=low,
            high=high,
        ),
        field=name,
    )


def text_problem(value: str, *, single_line: bool = False) -> str | None:
    """Why `value` cannot be stored or shown as text, or None when it is fine."""
    found = (SINGLE_LINE_REFUSED if single_line else FREE_TEXT_REFUSED).search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return _("a NUL character")
    if "\ud800" <= found.group() <= "\udfff":
        return _("an invalid character (a lone surrogate)")
    return _("a control character or line break")


def _strings(value, path: str):
    """(field path, string) for every key and string inside a JSON value, iteratively."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                inner = f"{where}.{key}" if where else str(key)
                yield inner, str(key)
                stack.append((child, inner))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def _body_json():
    """The body as JSON when it is JSON (whatever the declared type), else None; a 400 when it says
    it is JSON but is not. Reads the body once; `request.get_json()` still works afterwards."""
    if request.mimetype in FORM_TYPES:
        return None
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        return loads(data)  # the rules of get_json, without its cache (see the docstring)
    except (ValueError, UnicodeDecodeError) as err:
        if request.is_json:
            raise BadInput(_("The request body is not valid JSON: %(why)s", why=_why(err))) from err
        return None


_UNREAD = object()
PARSED_KEY = (
    "attune.body_json"  # in the WSGI environ: one per request (`g` may outlive it in tests)
)


def body_json():
    """The body as JSON by `_body_json`'s rules, parsed once per request: `check_request` and the view
    that reads it share one parse (issue 12). None when empty, a form, or not JSON."""
    parsed = request.environ.get(PARSED_KEY, _UNREAD)
    if parsed is _UNREAD:
        parsed = request.environ[PARSED_KEY] = _body_json()
    return parsed


def json_object(*fields: str) -> dict:
    """The body as a JSON object holding only `fields`: 400 for anything but an object, 422 naming the
    fields it does not take (at most a few, each cut short)."""
    if not request.get_data(cache=True).strip():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInput(_("Expected a JSON object."))
    unknown = sorted(set(body) - set(fields))
    if unknown:
        names = ", ".join(_shown(name) for name in unknown[:5])
        raise UnknownFields(_("Unknown fields: %(names)s.", names=names), _shown(unknown[0]))
    return body


def _why(err: Exception) -> str:
    text = str(err).split(":")[0] if isinstance(err, json.JSONDecodeError) else str(err)
    return _shown(text)


def _shown(name: str) -> str:
    """A field name safe to echo back: printable, short."""
    cleaned = "".join(c if c.isprintable() else "?" for c in name)
    return cleaned[:FIELD_SHOWN] + ("…" if len(cleaned) > FIELD_SHOWN else "")


def check_request() -> None:
    """Before every view: refuse JSON sent to a form route, and text no field may store."""
    req = request._get_current_object()  # one context lookup, not one per attribute (issue 12)
    if req.is_json and not req.path.startswith(API_PREFIX) and req.get_data().strip():
        raise BadInput(_("This address takes a form, not JSON."))
    # Path strings follow the free-text rule: a CR or LF there reaches no header, and the log escapes it.
    fields = [(key, value, False) for key, value in (req.view_args or {}).items()]
    for key, value in req.args.items(multi=True):
        fields += [(key, key, True), (key, value, True)]
    form = req.form.items(multi=True) if req.mimetype in FORM_TYPES else ()
    for key, value in form:  # never parsed for a JSON body, where it is always empty (issue 12)
        fields += [(key, key, True), (key, value, False)]
    fields += [(where, value, False) for where, value in _strings(body_json(), "")]
    for where, value, single_line in fields:
        if not isinstance(value, str):
            continue
        problem = text_problem(value, single_line=single_line)
        if problem:
            name = _shown(where)
            raise BadInput(
                _(
                    "Please remove control or invisible characters from %(field)s: it contains %(problem)s.",
                    field=name,
                    problem=problem,
                ),
                field=name,
            )


def init_app(app: Flask) -> None:
    """Call before any blueprint is registered: rules pick their converters when they are added."""
    app.url_map.converters["int"] = DatabaseId
    app.json = JSONProvider(app)
    app.before_request(check_request)
