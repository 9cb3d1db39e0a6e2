"""The inference dispatch world, in two settings that share its data tables
(:mod:`~edgesched.dispatch.catalogue`) and outcomes (:mod:`~edgesched.dispatch.outcomes`):

- :mod:`~edgesched.dispatch.streams` (ASET's): query streams over an ISP edge network;
- :mod:`~edgesched.dispatch.devices` (ECSRL's): requests to heterogeneous edge devices or the
  cloud.

Imports :mod:`edgesched.core` only; the two settings never import each other.
"""
