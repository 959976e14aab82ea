#!/usr/bin/env bash
# The whole test suite on a fresh machine: install, start Kafka and Elasticsearch, run pytest.
# Arguments go to pytest (e.g. scripts/test.sh tests/unit -x). Benchmarks are separate: bench/README.md.
set -euo pipefail
export SOC_BROWSER_TESTS=1
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

started=0
if ! soc stack status >/dev/null 2>&1; then
  soc stack up
  started=1
else
  soc setup
fi
ruff check collectors soc detectors bench tests
set +e
python -m pytest "${@:--q}"
status=$?
set -e
if [ "$started" = 1 ] && [ -z "${SOC_KEEP_STACK:-}" ]; then
  soc stack down || true
fi
exit $status
