"""HTTP API and live page for operators, inspectors and the regulator channel."""
