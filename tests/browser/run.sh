#!/usr/bin/env bash
# Starts `contactsync demo` (simulator, service on SQLite, seeded CRM, one sync), then runs
# the headless Chromium test of /ui against it. Usage: tests/browser/run.sh BINARY [SCREENSHOT]
set -euo pipefail
BIN="$(realpath "$1")"
SCREENSHOT="$(realpath -m "${2:-docs/ui.png}")"
cd "$(dirname "$0")"
PORT=18380
WORK="$(mktemp -d)"
CONTACTSYNC_CORS_ORIGINS="http://127.0.0.1:$((PORT + 2))" \
  "$BIN" demo --listen "127.0.0.1:$PORT" --sim-listen "127.0.0.1:$((PORT + 1))" \
  --data-dir "$WORK/data" >"$WORK/demo.out" 2>"$WORK/demo.err" &
DEMO=$!
trap 'kill $DEMO 2>/dev/null; wait $DEMO 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 120); do
  grep -q '^TOKEN=' "$WORK/demo.out" && break
  kill -0 $DEMO 2>/dev/null || { cat "$WORK/demo.out" "$WORK/demo.err"; exit 1; }
  sleep 0.5
done
TOKEN="$(sed -n 's/^TOKEN=//p' "$WORK/demo.out")"
test -n "$TOKEN" || { cat "$WORK/demo.out" "$WORK/demo.err"; exit 1; }
BASE="http://127.0.0.1:$PORT" TOKEN="$TOKEN" CORS_ORIGIN_PORT=$((PORT + 2)) SCREENSHOT="$SCREENSHOT" \
  node ui.test.mjs
