"""The outcome of a query or request in both dispatch settings: exactly one of three.

- ``SUCCESS``: served in time by a variant at least as accurate as required;
- ``VIOLATION``: served late, or by a variant less accurate than required (a QoS violation);
- ``REJECTED``: not served (no capacity, or a full queue).
"""

from __future__ import annotations

SUCCESS, VIOLATION, REJECTED = 0, 1, 2
#: Outcome names, indexed by the codes above.
OUTCOMES = ("success", "violation", "rejection")
