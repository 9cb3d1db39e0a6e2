"""Placement schedulers: ``make(name)`` builds one by registry name."""

from __future__ import annotations

from edgesched.placement.schedulers.base import SCHEDULERS, PlacementScheduler, make, names

__all__ = ["SCHEDULERS", "PlacementScheduler", "make", "names"]
