#!/usr/bin/env bash
# The whole test suite: unit, integration (real server on loopback) against SQLite and against a
# real PostgreSQL server started here, and the browser tests in headless Chromium.
# Installs what it needs (Debian packages) when missing. Usage: scripts/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v faketime >/dev/null || need_apt+=(faketime)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v promtool >/dev/null || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq -o DPkg::Lock::Timeout=600
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${need_apt[@]}" >/dev/null
fi

if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  echo "== installing axe-core for the accessibility checks"
  npm ci --prefix tests/browser --no-audit --no-fund >/dev/null
fi

export CARGO_TERM_COLOR=never
unset CT_TEST_DATABASE # the first two passes are on SQLite whatever the caller's environment

# Each pass's output is also kept, to count its "test result:" lines (the ignored tests too) into
# one summary line printed at the end, also when a pass fails.
LOG_DIR=$(mktemp -d)
passes=()
. scripts/lib/postgres.sh
tally() {
  awk '/^schemathesis: [0-9]+ passed, [0-9]+ failed/ { bins++; n["passed"] += $2; n["failed"] += $4 }
       /^test result:/ {
         bins++
         for (i = 2; i <= NF; i++) { k = $i; if (sub(/;$/, "", k) && (k == "passed" || k == "failed" || k == "ignored")) n[k] += $(i - 1) }
       }
       END {
         if (!bins) { printf "no test results (see above)"; exit }
         printf "%d passed, %d failed, %d ignored", n["passed"], n["failed"], n["ignored"]
       }' "$1"
}
# run_pass NAME COMMAND...: runs COMMAND, shows and keeps its output, records its tally.
run_pass() {
  local name=$1 status=0
  shift
  local log="$LOG_DIR/${#passes[@]}.log"
  echo "== $name"
  "$@" 2>&1 | tee "$log" || status=$? # pipefail: cargo's status, not tee's
  passes+=("$name: $(tally "$log")")
  return "$status"
}
on_exit() {
  local status=$?
  stop_pg
  if [ ${#passes[@]} -gt 0 ]; then
    local line="" p
    for p in "${passes[@]}"; do line+="${line:+ | }$p"; done
    echo "== summary: $line"
  fi
  rm -rf "$LOG_DIR"
  exit "$status"
}
trap on_exit EXIT

# Unit and integration tests; the browser and PostgreSQL-only tests are #[ignore]d here.
run_pass "SQLite" cargo test -- --test-threads=4

# The browser tests (#[ignore]d in plain `cargo test`): one at a time, as they take turns on one
# Chromium anyway (ONE_BROWSER in tests/it/browser.rs) and have timing-sensitive steps.
run_pass "browser (SQLite)" cargo test --test it browser:: -- --ignored --test-threads=1

# The binary under LD_PRELOAD tools: libfaketime moves the server's clock, valgrind watches it.
run_pass "faketime and valgrind" cargo test --test it clock:: -- --ignored

# The API fuzzed against its own OpenAPI document (schemathesis from PyPI, in a venv).
run_pass "schemathesis" scripts/api-fuzz.sh 40

# The integration binary again on PostgreSQL, with the PostgreSQL-only (scale-out) tests. Not
# again: the browser and clock passes, and the exports' memory test (its own SQLite data).
start_pg
CT_TEST_DATABASE="$PG_URL" \
  run_pass "PostgreSQL" cargo test --test it -- --include-ignored --skip browser:: --skip clock:: --skip exports::exports_of --test-threads=4
