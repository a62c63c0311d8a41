#!/usr/bin/env bash
# Fuzzes the API against its own OpenAPI document with schemathesis (PyPI, in a venv under
# target/): the real binary with demo data on a free loopback port, an admin's user token, every
# check. Two runs: the generated requests of every operation, then the stateful scenarios
# (operations chained through the document's links) without `revokeToken`, which would revoke
# the very token the run authenticates with; the rotations get a run of their own. Exit status 0 only with no failure.
# Usage: scripts/api-fuzz.sh [MAX_EXAMPLES_PER_OPERATION (default 40)]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-40}
target=${CARGO_TARGET_DIR:-target}
venv=$target/schemathesis-venv
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
cargo build -q
bin=$target/debug/connect-tokens
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --data-dir "$data" serve --demo --bind "127.0.0.1:$port" >"$data/stdout" 2>"$data/stderr" &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do grep -q listening "$data/stdout" 2>/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/api/v2/openapi.json"
passed=0 failed=0
run() {
  local token status=0
  token=$("$bin" --data-dir "$data" admin token --username admin --description "schemathesis $1" 2>/dev/null)
  "$venv/bin/st" --config-file tests/schemathesis.toml run "$url" \
    -H "Authorization: Bearer $token" --max-examples "$examples" --workers 1 --seed 20261203 \
    "${@:2}" >"$data/st.log" 2>&1 || status=$?
  tail -n 25 "$data/st.log"
  local line
  line=$(grep -E '[0-9]+ generated' "$data/st.log" | tail -1 || true)
  passed=$((passed + $(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line" | head -1 | grep . || echo 0)))
  failed=$((failed + $(sed -nE 's/.* ([0-9]+) (unique )?failures?.*/\1/p' <<<"$line" | head -1 | grep . || echo 0)))
  [ "$status" -eq 0 ] || failed=$((failed > 0 ? failed : 1))
}
# The rotations can retire the very token a run is called with (`rotateSelf` always, and
# `rotateToken` when given its Token ID), so they get a run (and a token) of their own, and the
# other runs leave them out.
run generated --phases examples,coverage,fuzzing --exclude-operation-id rotateSelf --exclude-operation-id rotateToken
run rotation --phases examples,coverage,fuzzing --include-operation-id rotateSelf --include-operation-id rotateToken
run stateful --phases stateful --exclude-operation-id revokeToken --exclude-operation-id rotateSelf --exclude-operation-id rotateToken
echo "schemathesis: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
