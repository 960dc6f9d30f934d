"""What a push says: a fixed, localised sentence and the URL of the exact check-in (DESIGN 2).

Nothing else goes in: no names, scores or clinical words, in the body or in any header the push service
sees. The Topic is an opaque keyed hash, so even the appointment id stays with us.
"""

import hashlib
import hmac
import json

from flask_babel import force_locale
from flask_babel import gettext as _

from .keys import b64url
from .rules import PHASE_OF

URGENCY = {"before": "high", "after": "normal", "nudge": "low"}


def payload(appointment_id: int, kind: str, *, locale: str) -> str:
    """The JSON the service worker shows; the `tag` makes a late duplicate replace the first one."""
    phase = PHASE_OF[kind]
    with force_locale(locale or "en"):
        body = _("Time for a quick check-in")
    return json.dumps(
        {
            "title": "Attune",
            "body": str(body),
            "url": f"/check-in?appointment={appointment_id}&phase={phase}",
            "tag": f"checkin-{appointment_id}-{phase}",
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def topic(appointment_id: int, kind: str, *, secret: str) -> str:
    """A Topic per appointment and phase: 22 base64url characters, the same on every resend."""
    message = f"reminder:{appointment_id}:{PHASE_OF[kind]}".encode()
    return b64url(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:16])
