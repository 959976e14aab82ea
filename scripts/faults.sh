#!/usr/bin/env bash
# The fault drills (tests/faults): Kafka killed, Elasticsearch stopped for two minutes, a worker and
# the collectors SIGKILLed, the spool full; each under load, on the real engines. Long (about 20
# minutes), and separate from scripts/test.sh, which never runs them. Arguments go to pytest
# (e.g. scripts/faults.sh -x -q, or scripts/faults.sh tests/faults/test_worker_sigkill.py).
# What each drill asserts and measured: bench/README.md, "Fault drills".
#
# The drills kill and stop Kafka and Elasticsearch, so by default they get a stack of their own:
# <stack home>-faults on ports 29092/29093 (Kafka) and 29200/29300 (Elasticsearch), sharing the
# downloaded engines. SOC_FAULTS_SHARED_STACK=1 runs them on the configured stack instead: then
# nothing else may use it meanwhile. Either way each drill restores the engines when it ends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"

if [ -z "${SOC_FAULTS_SHARED_STACK:-}" ]; then
  base_home="$(python -c 'from soc.config import load_settings; print(load_settings().stack.resolved_home())')"
  export SOC_STACK__HOME="${SOC_FAULTS_STACK_HOME:-${base_home}-faults}"
  export SOC_STACK__KAFKA_PORT="${SOC_FAULTS_KAFKA_PORT:-29092}"
  export SOC_STACK__KAFKA_CONTROLLER_PORT="${SOC_FAULTS_KAFKA_CONTROLLER_PORT:-29093}"
  export SOC_STACK__ES_PORT="${SOC_FAULTS_ES_PORT:-29200}"
  export SOC_STACK__ES_TRANSPORT_PORT="${SOC_FAULTS_ES_TRANSPORT_PORT:-29300}"
  mkdir -p "$SOC_STACK__HOME"
  # The engines are downloaded once: share them rather than fetch them again.
  if [ ! -e "$SOC_STACK__HOME/dist" ] && [ -d "$base_home/dist" ]; then
    ln -s "$base_home/dist" "$SOC_STACK__HOME/dist"
  fi
  echo "fault drills on their own stack: $SOC_STACK__HOME (Kafka :$SOC_STACK__KAFKA_PORT, Elasticsearch :$SOC_STACK__ES_PORT)"
fi

started=0
if ! soc stack status >/dev/null 2>&1; then
  soc stack up
  started=1
fi
export SOC_FAULT_DRILLS=1
export SOC_FAULTS_REPORT="${SOC_FAULTS_REPORT:-${TMPDIR:-/tmp}/soc-faults-report.json}"  # every drill's numbers
args=("$@")
[ $# -gt 0 ] || args=(-q)
case " $* " in
  *" tests/"*|*" ./tests/"*) ;;
  *) args+=(tests/faults tests/integration/test_scale_out.py) ;;
esac
set +e
python -m pytest -m faults "${args[@]}"
status=$?
set -e
if [ "$started" = 1 ] && [ -z "${SOC_KEEP_STACK:-}" ]; then
  soc stack down || true
fi
exit $status
