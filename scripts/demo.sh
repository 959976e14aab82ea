#!/usr/bin/env bash
# The main job on a fresh machine: install, start Kafka and Elasticsearch, run the demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec soc demo "$@"
