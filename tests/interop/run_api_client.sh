#!/usr/bin/env bash
# Runs CARTO's JavaScript client (@carto/api-client, npm) against a carto-emulator started
# here, with the M2M credentials of its `<user>.carto3.json`. Needs node >= 18 and npm.
# Usage: tests/interop/run_api_client.sh  (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
cleanup() {
  if [ -n "${emu_pid:-}" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$work" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "@carto/api-client@${CARTO_API_CLIENT_VERSION:-0.5.34}")
cp "$root/tests/interop/api_client.mjs" "$work/"

cargo build --quiet -p carto-emulator --bin carto-emulator
bin="${CARGO_TARGET_DIR:-$root/target}/debug/carto-emulator"
"$bin" --user interop --port 0 --write-creds "$work/creds" >"$work/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 1 120); do
  [ -f "$work/creds/interop.carto3.json" ] && break
  if ! kill -0 "$emu_pid" 2>/dev/null; then cat "$work/emulator.log"; exit 1; fi
  sleep 0.5
done
[ -f "$work/creds/interop.carto3.json" ] || { echo "emulator did not start"; cat "$work/emulator.log"; exit 1; }
node "$work/api_client.mjs" "$work/creds/interop.carto3.json"
