"""Modbus polling: register codec, read planning, connections and the per-device poller."""
