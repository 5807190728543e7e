#!/usr/bin/env bash
# Runs the README's walkthrough as a newcomer pastes it, then checks what it did.
# Usage: tests/walkthrough/run.sh BINARY
# `cargo run --release [-q] [--] ARGS` in the README runs BINARY ARGS here (CI builds no
# release binary), and ports 8080/8081 become free ones; every other line runs as written.
set -euo pipefail
BIN="$(realpath "$1")"
README="$(realpath "$(dirname "$0")/../../README.md")"
WORK="$(mktemp -d)"
API_PORT="${WALKTHROUGH_API_PORT:-18280}"
SIM_PORT="${WALKTHROUGH_SIM_PORT:-18281}"

sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' "$README" |
  awk '/^```sh$/ {inside=1; next} /^```$/ {inside=0; next} inside' |
  sed "s/127\.0\.0\.1:8080/127.0.0.1:$API_PORT/g; s/127\.0\.0\.1:8081/127.0.0.1:$SIM_PORT/g" \
  >"$WORK/walkthrough.sh"
test -s "$WORK/walkthrough.sh" || { echo "no walkthrough found in $README"; exit 1; }

cat >"$WORK/check.sh" <<CHECK
set -euo pipefail
cargo() {
  [ "\$1" = run ] || { echo "walkthrough: unexpected cargo \$*" >&2; return 1; }
  shift
  while [ \$# -gt 0 ] && [ "\$1" != -- ]; do shift; done
  [ \$# -gt 0 ] && shift
  "$BIN" "\$@"
}
export CONTACTSYNC_LISTEN=127.0.0.1:$API_PORT
# The README starts the simulator and the service in the background: stop both.
cleanup() {
  jobs -p >"$WORK/pids"
  # A job is the subshell running the cargo function; its child is the binary.
  while read -r pid; do pkill -P "\$pid" 2>/dev/null || true; kill "\$pid" 2>/dev/null || true; done <"$WORK/pids"
  wait 2>/dev/null || true
}
trap cleanup EXIT
source "$WORK/walkthrough.sh" >"$WORK/out.txt" 2>"$WORK/err.txt"

fail() { echo "walkthrough: \$*"; echo "--- output"; cat "$WORK/out.txt"; echo "--- errors"; tail -50 "$WORK/err.txt"; exit 1; }
run=\$(curl -s "\${H[@]}" \$API/contact-sync/runs/\$RUN)
echo "\$run" | grep -q '"status":"succeeded"' || fail "the run did not succeed: \$run"
grep -q '"ok":true' "$WORK/out.txt" || fail "the connection test did not pass"
grep -q '"name":"Clients"' "$WORK/out.txt" || fail "the folder tree lacks Clients"
imported=\$(curl -s "\${H[@]}" "\$API/contacts?q=Given&limit=100" | grep -o '"given_name":"Given[0-9]*"' | wc -l)
[ "\$imported" -eq 25 ] || fail "expected the 25 seeded contacts in the CRM, got \$imported"
grep -q '"display_name":"Ann Lee"' "$WORK/out.txt" || fail "Ann Lee was not exported to Outlook"
echo "walkthrough: \$(grep -c . "$WORK/walkthrough.sh") README lines ran; run succeeded, 25 contacts imported, Ann Lee exported"
CHECK
cd "$WORK"
bash "$WORK/check.sh"
status=$?
rm -rf "$WORK"
exit $status
