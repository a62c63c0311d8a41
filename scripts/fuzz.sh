#!/usr/bin/env bash
# Fuzzes the parsers that take outside input (SECURITY.md 28) with cargo-fuzz (libFuzzer) on the
# nightly toolchain: the token parser, the CSV row parser, the API's JSON bodies, the query
# strings, the framing reader and the allowed-IPs lists.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 300)] [TARGET...]
# Seeds are in tests/fuzz/corpus/<target>; the growing corpus is kept under target/fuzz-corpus,
# crashes under tests/fuzz/artifacts/<target> (commit a fix with a test, not the artifact).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token_parse csv_row json_bodies query_strings framing allowed_ips)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo +nightly install cargo-fuzz --locked

export CARGO_TARGET_DIR="$PWD/target/fuzz"
cargo +nightly fuzz build --fuzz-dir tests/fuzz
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work"
  echo "== $t for ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir tests/fuzz "$t" "$work" "tests/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' || true
  if compgen -G "tests/fuzz/artifacts/$t/*" >/dev/null; then
    echo "!! $t found crashes: tests/fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "== fuzzing done: no crash in ${#targets[@]} targets × ${seconds}s"
