#!/usr/bin/env bash
# Generates a Python client from openapi/openapi.json (openapi-python-client, no hand
# edits) and drives the README walkthrough with it against a real service and simulator.
# Usage: tests/client/run.sh BINARY VENV   (VENV: a Python venv with the pinned tools)
set -euo pipefail
BIN="$(realpath "$1")"
VENV="$(realpath "$2")"
ROOT="$(realpath "$(dirname "$0")/../..")"
WORK="$(mktemp -d)"
API_PORT="${CLIENT_API_PORT:-18180}"
SIM_PORT="${CLIENT_SIM_PORT:-18181}"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo 'post_hooks: []' >"$WORK/config.yaml"
"$VENV/bin/openapi-python-client" generate --path "$ROOT/openapi/openapi.json" \
  --config "$WORK/config.yaml" --output-path "$WORK/gen/contactsync_client" --meta none --fail-on-warning

"$BIN" ews-sim --listen "127.0.0.1:$SIM_PORT" --mailbox carol@example.com:carol-secret >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
SIM="http://127.0.0.1:$SIM_PORT/_sim"
curl -s --retry 60 --retry-connrefused --retry-delay 1 -o /dev/null "$SIM/mailboxes"
curl -sf -H 'Content-Type: application/json' "$SIM/mailboxes/carol@example.com/seed" \
  -d '{"folders":["Contacts/Team"],"folder":"Contacts/Team","generate":12}' >/dev/null

mkdir -p "$WORK/data"
CONTACTSYNC_LISTEN="127.0.0.1:$API_PORT" CONTACTSYNC_DATA_DIR="$WORK/data" \
  CONTACTSYNC_EWS_ALLOWED_HOSTS=127.0.0.1 "$BIN" serve >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
curl -s --retry 60 --retry-connrefused --retry-delay 1 -o /dev/null "http://127.0.0.1:$API_PORT/readyz"
TOKEN="$(CONTACTSYNC_DATA_DIR="$WORK/data" "$BIN" token --sub carol)"

if ! PYTHONPATH="$WORK/gen" BASE="http://127.0.0.1:$API_PORT" TOKEN="$TOKEN" \
  EWS_URL="http://127.0.0.1:$SIM_PORT/EWS/Exchange.asmx" MAILBOX=carol@example.com \
  PASSWORD=carol-secret SEEDED=12 "$VENV/bin/python" "$ROOT/tests/client/walkthrough.py"; then
  echo "--- service log"; tail -40 "$WORK/serve.log"
  exit 1
fi
