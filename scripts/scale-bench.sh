#!/usr/bin/env bash
# Fast at a million (issue #16): `import-devices` at 1M rows, then the console's counts, token
# searches and Audit Log at 10M devices, 1M tokens and 10M audit entries, on SQLite and
# PostgreSQL side by side (tests/bench/scale.rs). Installs PostgreSQL (Debian packages) when
# missing. Sizes: CT_SCALE_DEVICES, CT_SCALE_TOKENS, CT_SCALE_AUDIT, CT_SCALE_IMPORT.
# Usage: scripts/scale-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v /usr/bin/time >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql time >/dev/null
fi

. scripts/lib/postgres.sh
trap stop_pg EXIT
start_pg
CT_BENCH_DATABASE="$PG_URL" cargo bench --bench scale
