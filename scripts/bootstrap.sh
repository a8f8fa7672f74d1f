#!/usr/bin/env bash
# Installs what minewatch needs on a fresh Debian machine: the Debian packages its tests drive
# (when absent) and a virtualenv with the project and its test extras. Idempotent, so both
# `make demo` and `make test` call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
WHAT="${1:-test}"   # "demo" needs no Debian package; "test" needs the real servers

need_pkgs=()
if [ "$WHAT" = "test" ]; then
  command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
  command -v mosquitto_pub >/dev/null || need_pkgs+=(mosquitto-clients)
  command -v influxd >/dev/null || need_pkgs+=(influxdb)
  command -v victoria-metrics >/dev/null || need_pkgs+=(victoria-metrics)
  command -v chromium >/dev/null || need_pkgs+=(chromium)
  command -v pdftotext >/dev/null || need_pkgs+=(poppler-utils)
  # minewatch hub's tests start a throwaway cluster with these (initdb, pg_ctl)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_pkgs+=(postgresql)
fi
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
stamp="$VENV/.minewatch-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -e ".[test]"
  touch "$stamp"
fi
