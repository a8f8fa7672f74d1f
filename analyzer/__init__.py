"""Analyzer: evaluates a compliance profile over the store, owns the alert lifecycle and the
evidence."""
