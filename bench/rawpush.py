"""The reminder baseline: plain `pywebpush.webpush` calls, one `requests.Session`, one VAPID key object,
in its own process like the dispatcher it is compared with.

    python -m bench.rawpush < spec.json     # {"vapid_private_key", "subject", "pushes": [...]}
"""

import json
import sys

import requests
from py_vapid import Vapid02
from pywebpush import webpush


def main(spec: dict) -> int:
    vapid = Vapid02.from_string(spec["vapid_private_key"])
    session = requests.Session()
    sent = 0
    for push in spec["pushes"]:
        webpush(
            subscription_info=push["subscription"],
            data=push["data"],
            vapid_private_key=vapid,
            vapid_claims={"sub": spec["subject"]},  # pywebpush fills in aud and exp: a fresh dict
            ttl=push["ttl"],
            headers={"Topic": push["topic"], "Urgency": push["urgency"]},
            timeout=5,
            requests_session=session,
        )
        sent += 1
    return sent


if __name__ == "__main__":
    print(main(json.load(sys.stdin)))
