"""A simulated mining facility: rigs, meters, sensors, with fault injection, for the demo and the
tests."""
