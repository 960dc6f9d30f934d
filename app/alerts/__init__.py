"""Needs-attention alerts (DESIGN 3): the rules, storing them, reading them and saying them in words.

Below check-ins in the layering, so storing a check-in can raise its alerts without reaching up into the
dashboard, which only reads them. No blueprint: the dashboard shows alerts and takes 'talked about it'.
"""

from .queries import grouped, open_alerts
from .service import acknowledge, on_check_in, scan_missing
from .wording import describe

__all__ = ["acknowledge", "describe", "grouped", "on_check_in", "open_alerts", "scan_missing"]
