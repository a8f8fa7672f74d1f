"""``minewatch hub``: the central bank's service — register of licensed facilities, verified ingest
of their signed messages, detection of what a facility might hide, and a read API for the bank's
staff."""
