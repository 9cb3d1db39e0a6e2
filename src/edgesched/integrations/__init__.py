"""Bridges from edgesched's schedulers to real systems (Kubernetes). The worlds never import
this package; it imports the worlds it serves."""
