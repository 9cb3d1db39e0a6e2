"""The device setting of the dispatch world (ECSRL's): heterogeneous edge devices behind one
access point, co-location slow-down, power, and accuracy-driven cloud offload, one request at a
time. Imports :mod:`edgesched.core` and the shared dispatch tables only."""
