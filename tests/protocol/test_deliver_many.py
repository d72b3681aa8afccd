"""Local delivery to more recipients' stores than the delivering process
keeps open (storage_deliver's cache of 16): a submitted message whose
saves in 20 stores all wait for the commit, and an LMTP transaction to the
same 20 users; every recipient gets it exactly once."""

from lmtpc import deliver
from smtpa import inbox_count, login

N = 20
USERS = [("many%02d@example.test" % i, "many-pw-%02d" % i) for i in range(N)]
POSTERN_CONF = {"submission_max_recipients": "50"}


def test_submission_to_twenty_local_stores(instance):
    for u, p in USERS:
        instance.add_user(u, p)
    c = login(instance, *USERS[0])
    assert c.cmd("MAIL FROM:<%s>" % USERS[0][0])[0] == 250
    for u, _ in USERS:
        code, lines = c.cmd("RCPT TO:<%s>" % u)
        assert code == 250, lines
    assert c.cmd("DATA")[0] == 354
    c.send(b"From: %s\r\nSubject: to twenty\r\n\r\nhello all\r\n.\r\n"
           % USERS[0][0].encode())
    code, lines = c.reply()
    assert code == 250, lines
    c.close()
    for u, p in USERS:
        assert inbox_count(instance, u, p) == 1, u
    # and through LMTP, one session after the other, same stores
    for u, p in USERS:
        assert b"Delivered" in deliver(instance, u)
    for u, p in USERS:
        assert inbox_count(instance, u, p) == 2, u
