"""Collectors: turn whatever a device speaks (MQTT JSON, Modbus registers, miner APIs) into
Samples."""
