"""minewatch: an energy and safety compliance monitor for licensed crypto-mining facilities.

Three layers, each importing only the ones below it (``lint-imports`` checks this; see
docs/architecture.md): the composition root (``cli``, ``runtime``, ``wiring``, ``validation``,
``central_bank``) wires the parts (``collector``, ``analyzer``, ``notifier``, ``api``,
``simulator``), which build on the kernel (``config``, ``profiles``, ``store``, ``sample``,
``ledger``, ``events``, ``errors`` ...). The kernel imports no part.
"""

__version__ = "0.1.0"
