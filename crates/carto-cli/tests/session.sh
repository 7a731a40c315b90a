#!/usr/bin/env bash
# One `carto` session as a user would type it, against `carto emulator`: a profile, SQL,
# a COPY from a pipe and back, a key with its token, a batch job. Fails on the first
# unexpected answer.
#
#   cargo build -p carto-cli && crates/carto-cli/tests/session.sh target/debug/carto
set -euo pipefail

carto=$(realpath "${1:-target/debug/carto}")
work=$(mktemp -d)
emulator_pid=""
cleanup() {
  if [ -n "$emulator_pid" ]; then
    kill -TERM "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
check() { # check DESCRIPTION: counts a passed step
  passed=$((passed + 1))
  echo "ok - $1"
}
fail() {
  echo "FAILED - $1" >&2
  [ -f "$work/emulator.log" ] && sed 's/master key: .*/master key: <hidden>/' "$work/emulator.log" >&2
  exit 1
}

"$carto" emulator --user alice --write-creds "$work/creds" >"$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 120); do
  [ -s "$work/creds/alice.json" ] && break
  kill -0 "$emulator_pid" 2>/dev/null || fail "carto emulator exited"
  sleep 0.5
done
[ -s "$work/creds/alice.json" ] || fail "carto emulator did not start within 60 s"
check "carto emulator started and wrote creds/alice.json"

# A private configuration: the emulator's credentials file becomes profile `local`.
export CARTO_CONFIG_DIR="$work/config" HOME="$work/home" XDG_CONFIG_HOME="$work/xdg"
unset CARTO_BASE_URL CARTO_USERNAME CARTO_API_KEY CARTO_ALLOW_NON_SECURE CARTO_PROFILE
mkdir -p "$CARTO_CONFIG_DIR/profiles"
cp "$work/creds/alice.json" "$CARTO_CONFIG_DIR/profiles/local.json"
export CARTO_PROFILE=local
master=$(sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' "$work/creds/alice.json")
[ -n "$master" ] || fail "no api_key in creds/alice.json"

"$carto" creds show | grep -q '^from: *profile local' || fail "creds show"
"$carto" creds show | grep -qF "$master" && fail "creds show printed the token"
check "creds show: profile local, token masked"

"$carto" sql "CREATE TABLE session_cities (id int PRIMARY KEY, name text)" >/dev/null
seq 1 500 | sed 's/.*/&,city &/' | "$carto" copy from session_cities - --columns id,name --no-header \
  | grep -q '^copied 500 rows' || fail "copy from a pipe"
check "copy from stdin: 500 rows"

count=$("$carto" sql "SELECT count(*) AS n FROM session_cities" --format csv | tr -d '\r' | tail -1)
[ "$count" = 500 ] || fail "count is $count"
"$carto" sql "SELECT id, name FROM session_cities ORDER BY id LIMIT 2" | grep -q '^|  1 | city 1 |$' \
  || fail "table output"
check "sql: csv and table output"

"$carto" copy to "SELECT id, name FROM session_cities ORDER BY id" - --no-header >"$work/back.csv"
cmp -s "$work/back.csv" <(seq 1 500 | sed 's/.*/&,city &/') || fail "copy to stdout differs"
check "copy to stdout: the same 500 rows"

token=$("$carto" keys create session_reader --sql --table public.session_cities:select --show-token 2>/dev/null)
[ ${#token} -ge 16 ] || fail "no token from keys create --show-token"
"$carto" keys list | grep -q session_reader || fail "keys list"
"$carto" keys list --json | grep -qF "$token" && fail "keys list printed the token"
check "keys create --show-token; keys list masks it"

reader=(env -u CARTO_PROFILE CARTO_BASE_URL="$(sed -n 's/.*"base_url":"\([^"]*\)".*/\1/p' "$work/creds/alice.json")"
  CARTO_API_KEY="$token" CARTO_ALLOW_NON_SECURE=1 "$carto")
"${reader[@]}" sql "SELECT name FROM session_cities WHERE id = 7" --format csv | grep -q '^city 7' \
  || fail "the reader key reads"
set +e
"${reader[@]}" sql "DELETE FROM session_cities" 2>"$work/err.txt"
status=$?
set -e
[ "$status" = 12 ] || fail "a refused write exits 12, not $status"
grep -q 'permission denied' "$work/err.txt" || fail "the refusal says why"
check "the reader key reads, and its write is refused with exit 12"

"$carto" batch run "UPDATE session_cities SET name = upper(name)" --wait | grep -q '^status: *done' \
  || fail "batch run --wait"
set +e
"$carto" batch run "SELECT * FROM no_such_table" --wait 2>"$work/err.txt"
status=$?
set -e
[ "$status" = 16 ] && grep -q no_such_table "$work/err.txt" || fail "a failed job exits 16 ($status)"
check "batch: a job done, a failed job exits 16 with its reason"

"$carto" keys delete session_reader >/dev/null
set +e
"$carto" keys show session_reader 2>/dev/null
status=$?
set -e
[ "$status" = 13 ] || fail "a deleted key is not found (13), not $status"
check "keys delete; keys show exits 13"

echo "carto session: $passed passed, 0 failed"
