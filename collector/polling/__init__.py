"""The polling collector: Modbus devices and miner APIs on schedules, plus periodic discovery."""

from minewatch.collector.polling.collector import PollingCollector

__all__ = ["PollingCollector"]
