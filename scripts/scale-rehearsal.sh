#!/usr/bin/env bash
# Scale-out rehearsal: three `serve` instances on one PostgreSQL behind HAProxy, under API and
# console load; one killed (kill -9), one stopped (SIGTERM), both started again. Prints the
# requests and client errors of each phase (tests/bench/rehearsal.rs).
# Installs HAProxy and PostgreSQL (Debian packages) when missing. Usage: scripts/scale-rehearsal.sh
# (CT_REHEARSAL_RETRY=0: HAProxy without `retry-on empty-response`, to see what it saves.)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v haproxy >/dev/null || need_apt+=(haproxy)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_apt[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin"

. scripts/lib/postgres.sh
trap stop_pg EXIT
start_pg
CT_REHEARSAL_DATABASE="$PG_URL" cargo bench --bench rehearsal
