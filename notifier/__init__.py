"""Outbound delivery: signed regulator messages, operator notifications, the tamper-evident
ledger."""
