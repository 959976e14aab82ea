#!/usr/bin/env bash
# Prepare a fresh machine: system tools (Java 17+, Maven), the virtual environment, the package.
# Sourced by scripts/demo.sh and scripts/test.sh; safe to run again (it only adds what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need_apt+=(python3-venv)
ldconfig -p 2>/dev/null | grep 'libpcap\.so' >/dev/null || need_apt+=(libpcap0.8)  # BPF filters of live capture
command -v nft >/dev/null 2>&1 || need_apt+=(nftables)  # the nftables response adapter
command -v ping >/dev/null 2>&1 || need_apt+=(iputils-ping)  # its test: packets into a network namespace
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # SM2 interoperability tests of the notices
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)  # builds the web UI (scripts/build-web.sh)
# The compliance report's PDF (WeasyPrint): Pango, and a Chinese font (also for the UI's screenshots)
ldconfig -p 2>/dev/null | grep 'libpango-1\.0\.so' >/dev/null || need_apt+=(libpango-1.0-0)
ldconfig -p 2>/dev/null | grep 'libpangoft2-1\.0\.so' >/dev/null || need_apt+=(libpangoft2-1.0-0)
command -v fc-list >/dev/null 2>&1 || need_apt+=(fontconfig)
fc-list 2>/dev/null | grep -i 'wqy\|cjk' >/dev/null || need_apt+=(fonts-wqy-microhei)
if [ -n "${SOC_BROWSER_TESTS:-}" ]; then  # set by scripts/test.sh: Debian's Chromium for the UI's tests
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need_apt[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]}; install them (Java 17 or newer, Maven, python3-venv, libpcap, nftables, ping, Node.js with npm, Pango and a Chinese font for the PDF reports, Chromium for the tests) and run again" >&2
    exit 1
  fi
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' || {
  echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  rm -f .venv/.installed-* && touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
bash "$ROOT/scripts/build-web.sh"  # the web UI the API serves (dashboards/web → dist)
