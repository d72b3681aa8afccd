"""LOGOUT with mailbox updates pending: the server sends none of them (as
Dovecot), so no untagged EXISTS can follow "* BYE"."""

import imapa
from test_imap_fetch import login, select

U, P = "logout@example.org", "logout-pw-1"


def test_logout_sends_no_pending_exists(instance):
    instance.add_user(U, P)
    a1, a2, b = (login(instance, U, P) for _ in range(3))
    for c in (a1, a2):
        select(c, "INBOX")
    imapa.append(b, "INBOX", imapa.message(1), tag="ap")
    # the update is pending: another session of the same mailbox sees it
    lines, tagged = a2.command("n", "NOOP")
    assert tagged.startswith(b"n OK"), tagged
    assert any(l.endswith(b" EXISTS") for l in lines), lines
    a1.send("lo LOGOUT\r\n")
    lines = a1.read_eof()
    assert lines[0].startswith(b"* BYE"), lines
    assert lines[-1].startswith(b"lo OK"), lines
    assert not any(b"EXISTS" in l or b"FETCH" in l for l in lines), lines
    for c in (a2, b):
        c.close()
