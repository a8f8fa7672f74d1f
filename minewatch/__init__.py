"""minewatch kernel: configuration, device profiles, the sample type and the telemetry store.

collector/, analyzer/, api/, notifier/ and simulator/ build on this package; it imports none of
them.
"""

__version__ = "0.1.0"
