"""Seeds a running contactsync with one record of each kind (and a finished run), and
writes the schemathesis configuration: the checks' expected answers, and no pinned ids.

Usage: api-fuzz-seed.py BASE_URL TOKEN SIMULATOR_HOST:PORT OUT.toml
"""

import json
import sys
import time
import urllib.request

BASE, TOKEN, SIM, OUT = sys.argv[1:5]
API = BASE + "/api/v1"
EMPLOYEE = "00000000-0000-7000-8000-000000000001"


def call(method, path, body=None, expect=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, text = res.status, res.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    if status not in expect:
        sys.exit(f"seed: {method} {path} answered {status}: {text}")
    return json.loads(text) if text else None


account = call("POST", "/accounts", {"name": "Fuzz Ltd", "website": "https://fuzz.example"})
contact = call(
    "POST",
    "/contacts",
    {
        "given_name": "Ann",
        "surname": "Lee",
        "email1": "ann@fuzz.example",
        "type_id": EMPLOYEE,
        "account_id": account["id"],
    },
)
folder = call("POST", "/contact-folders", {"name": "Fuzz folder", "kind": "static"})
call("POST", f"/contact-folders/{folder['id']}/members", {"contact_ids": [contact["id"]]})
mailbox = call(
    "POST",
    "/mailboxes",
    {
        "email": "fuzz@example.com",
        "display_name": "Fuzz",
        "ews_url": f"http://{SIM}/EWS/Exchange.asmx",
        "auth": {"kind": "basic", "username": "fuzz@example.com", "password": "fuzz-secret"},
    },
)
call(
    "PUT",
    f"/mailboxes/{mailbox['id']}/contact-sync",
    {"import": {"enabled": True, "scope": "all"}, "export": {"enabled": True, "scope": "all"}},
)
run = call("POST", f"/mailboxes/{mailbox['id']}/contact-sync/runs", {})
# Let the worker finish the run, so that its events stream ends at once.
for _ in range(120):
    if call("GET", f"/contact-sync/runs/{run['id']}")["status"] not in ("queued", "running"):
        break
    time.sleep(0.25)

# No ids are pinned: the stateful phase follows the links from what it creates, and a
# pinned id replaced the created one there (reported as "created resource not found").
# The seed still gives every list something to page through.
pins = {}

lines = [
    # The document promises the shape of a request: a schema-valid one is never a 400.
    # What needs the data cannot be in a schema: a rule over the stored records or other
    # fields (422: an unknown `type_id`, a name required on create but not on update) and
    # a precondition (412: an `If-Match` that is not the current version). Both are
    # documented answers; every other status still fails this check.
    "[checks.positive_data_acceptance]",
    'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "429"]',
    "",
    # RFC 9110 §13.2.1: preconditions are evaluated before the content is processed, so a
    # bad body sent with a stale `If-Match` is rightly a 412.
    "[checks.negative_data_rejection]",
    'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", "429"]',
    "",
    # A cursor is opaque: only `next_cursor` makes one, so generated ones are all refused
    # (400 `invalid_cursor`); lists are paged without one.
    "[parameters]",
    '"query.cursor" = ""',
    "",
    # Links from the Location headers of what the fuzzer creates. Links guessed from
    # field names fill a path id from a nullable field (a contact's `account_id: null`
    # becomes `/accounts/None`), a request no document makes valid.
    "[phases.stateful.inference]",
    'algorithms = ["location-headers"]',
    "",
]
for path, params in pins.items():
    lines.append("[[operations]]")
    lines.append(f"include-path = {json.dumps(path)}")
    # Reads only: a pinned write (a PATCH giving the record away, a DELETE) would leave
    # the reads 404s.
    lines.append('include-method = "GET"')
    lines.append("parameters = { " + ", ".join(f'"path.{k}" = {json.dumps(v)}' for k, v in params.items()) + " }")
    lines.append("")
with open(OUT, "w") as f:
    f.write("\n".join(lines))
print(f"seed: account, contact, folder, mailbox {mailbox['id']}, run {run['id']} ({len(pins)} pinned routes)")
