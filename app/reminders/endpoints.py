"""Which URLs the dispatcher may push to: the browsers' push services, plus hosts the operator names.

A subscription's endpoint is a URL chosen by whoever holds a client's session, and the server later
POSTs to it: without this allow-list anyone could make the server open connections into its own network
(server-side request forgery). Checked when a browser subscribes and again before every push.

The services are those browsers subscribe with (their push-service hosts, as documented and as used by
Chromium, Firefox, Safari and Edge): Google FCM, Mozilla autopush, Apple Web Push, Microsoft WNS.
"""

import ipaddress
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

KNOWN_HOSTS = frozenset(
    {"fcm.googleapis.com", "android.googleapis.com", "updates.push.services.mozilla.com"}
)
# One label in front: web.push.apple.com, db5p.notify.windows.com, ...
KNOWN_SUFFIXES = (".push.apple.com", ".notify.windows.com")
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
SHAPE = re.compile(r"(https?)://([^/?#]*)([/?#].*)?")
# 2130706433, 0x7f000001, 0177.0.0.1, 127.1: forms of an IPv4 address that resolvers accept.
NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?")
ANY_PORT = 0


class Refused(ValueError):
    """This endpoint is not a push service the server may contact; the message says why."""


@dataclass(frozen=True)
class Extra:
    """A push service the operator added: `port` ANY_PORT allows every port (a local test receiver)."""

    host: str
    port: int


def extras(entries) -> tuple[Extra, ...]:
    """PUSH_EXTRA_HOSTS (`host`, `host:port`, `host:*`, `[v6]:port`) as Extra values."""
    if isinstance(entries, str):
        entries = entries.split(",")
    found = []
    for entry in entries or ():
        entry = entry.strip().lower()
        if entry.endswith(":*"):
            found.append(Extra(entry[:-2].strip("[]"), ANY_PORT))
        elif entry:
            host, port = split_authority(entry)
            found.append(Extra(host, port or 443))
    return tuple(found)


def split_authority(authority: str) -> tuple[str, int | None]:
    """Host and port of `host[:port]` or `[v6][:port]`; raises Refused on a malformed port."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            raise Refused(_l("the endpoint's address is malformed"))
    else:
        host, colon, port = authority.rpartition(":")
        if not colon:
            host, port = authority, None
    if port is None or port == "":
        return host, None
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise Refused(_l("the endpoint's port is not a number"))
    return host, int(port)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(NUMERIC_HOST.fullmatch(host))
    return True


def known(host: str) -> bool:
    if host in KNOWN_HOSTS:
        return True
    for suffix in KNOWN_SUFFIXES:
        if host.endswith(suffix) and LABEL.fullmatch(host[: -len(suffix)]):
            return True
    return False


def printable(text: str) -> bool:
    """Plain ASCII without spaces or control characters (so no NUL, no lone surrogate)."""
    return all("\x21" <= ch <= "\x7e" for ch in text)


def check(endpoint, *, allowed: tuple[Extra, ...] = ()) -> str:
    """The endpoint unchanged if the server may push to it; else Refused naming the problem."""
    if not isinstance(endpoint, str) or not 10 < len(endpoint) <= 1000:
        raise Refused(_l("endpoint must be a URL of at most 1000 characters"))
    if not printable(endpoint) or "\\" in endpoint:
        raise Refused(_l("endpoint must be plain ASCII, without spaces or control characters"))
    match = SHAPE.fullmatch(endpoint)
    if not match:
        raise Refused(_l("endpoint must be an https URL"))
    scheme, authority = match[1], match[2].lower()
    if "@" in authority:
        raise Refused(_l("endpoint must not carry a user name or password"))
    host, port = split_authority(authority)
    effective = port or (443 if scheme == "https" else 80)
    for extra in allowed:
        if extra.host == host and extra.port in (ANY_PORT, effective):
            return endpoint
    if is_ip(host):
        raise Refused(_l("endpoint must be a push service's name, not an IP address"))
    if scheme != "https":
        raise Refused(_l("endpoint must be an https URL"))
    if not known(host):
        raise Refused(_l("endpoint is not on a known push service"))
    if effective != 443:
        raise Refused(_l("endpoint must use the standard https port"))
    return endpoint
