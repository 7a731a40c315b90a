#!/usr/bin/env bash
# Runs the official CARTO Python SDK (carto==1.11.3, pyrestcli==0.6.11), then cartoframes
# 1.2.5's I/O functions, against a carto-emulator started here.
# Usage: tests/interop/run.sh  (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
venv=${CARTO_INTEROP_VENV:-$work/venv}
cleanup() {
  if [ -n "${emu_pid:-}" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "setuptools<81" six carto==1.11.3 pyrestcli==0.6.11 cartoframes==1.2.5
fi

cargo build --quiet -p carto-emulator --bin carto-emulator
bin="${CARGO_TARGET_DIR:-$root/target}/debug/carto-emulator"
"$bin" --user interop --port 0 --write-creds "$work/creds" >"$work/emulator.log" 2>&1 &
emu_pid=$!
for _ in $(seq 1 120); do
  [ -f "$work/creds/interop.json" ] && break
  if ! kill -0 "$emu_pid" 2>/dev/null; then cat "$work/emulator.log"; exit 1; fi
  sleep 0.5
done
[ -f "$work/creds/interop.json" ] || { echo "emulator did not start"; cat "$work/emulator.log"; exit 1; }
"$venv/bin/python" "$root/tests/interop/python_sdk.py" "$work/creds/interop.json"
"$venv/bin/python" "$root/tests/interop/cartoframes_io.py" "$work/creds/interop.json"
