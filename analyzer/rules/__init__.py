"""Rule kinds, one module each; ``minewatch.analyzer.rules.kinds`` lists them by name.

This package imports nothing on its own, so any one rule module (or ``context``, which the rule
modules use) can be imported first without pulling in every other kind half-initialised."""
