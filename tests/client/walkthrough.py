"""The README walkthrough driven through a client generated from openapi/openapi.json
(openapi-python-client, no hand edits): token, a mailbox on the simulator, the profile,
synchronize now, follow the run by polling, list the imported contacts.

Environment: BASE (the service), TOKEN, EWS_URL (the simulator's EWS endpoint),
MAILBOX / PASSWORD (a mailbox of the simulator holding SEEDED contacts)."""
import os
import sys
import time
import uuid

from contactsync_client import AuthenticatedClient
from contactsync_client.api.contact_sync import get_run, put_contact_sync_profile, start_run
from contactsync_client.api.contacts import create_contact, list_contacts
from contactsync_client.api.mailboxes import create_mailbox, list_exchange_folders, test_mailbox
from contactsync_client.api.users import get_me
from contactsync_client.models import ContactSyncProfile, ContactWrite, MailboxWrite, Problem, Run, RunOptions

EMPLOYEE = "00000000-0000-7000-8000-000000000001"
FINISHED = {"succeeded", "partially_failed", "failed", "cancelled"}


def ok(response, status):
    """The parsed answer, after checking the HTTP status."""
    assert response.status_code == status, f"{response.status_code}: {response.content!r}"
    assert not isinstance(response.parsed, Problem), response.parsed
    return response.parsed


def main():
    client = AuthenticatedClient(base_url=os.environ["BASE"], token=os.environ["TOKEN"])
    mailbox_email = os.environ["MAILBOX"]
    seeded = int(os.environ["SEEDED"])

    me = ok(get_me.sync_detailed(client=client), 200)
    print(f"signed in as {me.user_id}")

    mailbox = ok(create_mailbox.sync_detailed(client=client, body=MailboxWrite.from_dict({
        "email": mailbox_email,
        "display_name": "Generated client",
        "ews_url": os.environ["EWS_URL"],
        "auth": {"kind": "basic", "username": mailbox_email, "password": os.environ["PASSWORD"]},
    })), 201)
    diagnosis = ok(test_mailbox.sync_detailed(mailbox.id, client=client), 200)
    assert diagnosis.ok, diagnosis.to_dict()
    tree = ok(list_exchange_folders.sync_detailed(mailbox.id, client=client), 200)
    print(f"mailbox {mailbox.id}: connection ok, {len(tree.items)} top-level contacts folder(s)")

    profile = ok(put_contact_sync_profile.sync_detailed(mailbox.id, client=client, body=ContactSyncProfile.from_dict({
        "import": {"enabled": True, "scope": "all"},
        "export": {"enabled": True, "scope": "specific", "contact_type_ids": [EMPLOYEE]},
    })), 200)
    assert profile.import_.enabled and profile.export.scope.value == "specific"
    ok(create_contact.sync_detailed(client=client, body=ContactWrite.from_dict({
        "given_name": "Pat", "surname": "Generated", "email1": "pat@client.test", "type_id": EMPLOYEE,
    })), 201)

    run = ok(start_run.sync_detailed(mailbox.id, client=client, body=RunOptions.from_dict({"mode": "two_way"}),
                                     idempotency_key=str(uuid.uuid4())), 202)
    assert isinstance(run, Run)
    deadline = time.monotonic() + 120
    while run.status.value not in FINISHED:
        assert time.monotonic() < deadline, "the run did not finish in two minutes"
        time.sleep(0.5)
        run = ok(get_run.sync_detailed(run.id, client=client), 200)
    counts = run.counts
    print(f"run {run.id}: {run.status.value}, {counts.crm_created} imported, {counts.exchange_created} exported")
    assert run.status.value == "succeeded", run.to_dict()
    assert counts.crm_created == seeded and counts.exchange_created == 1, counts.to_dict()

    page = ok(list_contacts.sync_detailed(client=client, q="Given", limit=200), 200)
    assert len(page.items) == seeded, [c.full_name for c in page.items]
    print(f"imported contacts listed: {len(page.items)}, e.g. {page.items[0].full_name}")
    print("generated client: the walkthrough passed")


if __name__ == "__main__":
    sys.exit(main())
