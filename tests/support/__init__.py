"""Test harness: real servers (Mosquitto, InfluxDB, VictoriaMetrics, pymodbus, SMTP) on free
ports."""
