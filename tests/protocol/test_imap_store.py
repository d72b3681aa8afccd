"""STORE and UID STORE (RFC 9051 6.4.6) with every variant, keywords, and
CONDSTORE UNCHANGEDSINCE / MODIFIED (RFC 7162 3.1.3 and its examples)."""

import re

import pytest

from test_imap_fetch import PLAIN, append, create_mailbox, login, ok, select

U, P = "store@example.org", "store-pw-1"


@pytest.fixture(scope="module")
def user(instance):
    instance.add_user(U, P)


@pytest.fixture
def conn(instance, user, request):
    """A fresh mailbox of 10 messages, selected."""
    c = login(instance, U, P)
    name = "st%d" % (abs(hash(request.node.name)) % 10 ** 8)
    create_mailbox(c, name)
    uids = [append(c, name, PLAIN, tag="a%d" % i) for i in range(10)]
    select(c, name)
    c.uids = uids
    c.box = name
    yield c
    c.close()


def fetches(lines):
    return [l for l in lines if b" FETCH " in l]


def flags_of(c, seq):
    (line,) = fetches(ok(c, "ff", "FETCH %d FLAGS" % seq))
    return set(re.search(rb"FLAGS \(([^)]*)\)", line).group(1).split())


def modseq_of(c, seq):
    (line,) = fetches(ok(c, "fm", "FETCH %d MODSEQ" % seq))
    return int(re.search(rb"MODSEQ \((\d+)\)", line).group(1))


def test_add_set_remove(conn):
    lines = fetches(ok(conn, "s1", "STORE 2 +FLAGS (\\Deleted)"))
    assert lines == [b"* 2 FETCH (FLAGS (\\Deleted))"]
    lines = fetches(ok(conn, "s2", "STORE 2 FLAGS (\\Seen \\Flagged)"))
    assert lines == [b"* 2 FETCH (FLAGS (\\Seen \\Flagged))"]
    lines = fetches(ok(conn, "s3", "STORE 2 -FLAGS (\\Seen)"))
    assert lines == [b"* 2 FETCH (FLAGS (\\Flagged))"]
    lines = fetches(ok(conn, "s4", "STORE 2 FLAGS ()"))
    assert lines == [b"* 2 FETCH (FLAGS ())"]


def test_range_and_atoms_without_parens(conn):
    lines = fetches(ok(conn, "s", "STORE 3:5 +FLAGS \\Answered \\Draft"))
    assert lines == [b"* %d FETCH (FLAGS (\\Answered \\Draft))" % i
                     for i in (3, 4, 5)]


def test_silent(conn):
    lines = ok(conn, "s", "STORE 1:3 +FLAGS.SILENT (\\Flagged)")
    assert fetches(lines) == []
    assert flags_of(conn, 2) == {b"\\Flagged"}
    lines = ok(conn, "s2", "STORE 1 FLAGS.SILENT (\\Seen)")
    assert fetches(lines) == []
    assert flags_of(conn, 1) == {b"\\Seen"}


def test_uid_store(conn):
    u = conn.uids[3]
    lines = fetches(ok(conn, "s", "UID STORE %d +FLAGS (\\Seen)" % u))
    assert lines == [b"* 4 FETCH (UID %d FLAGS (\\Seen))" % u]
    # UIDs that do not exist are ignored
    ok(conn, "s2", "UID STORE 999999 +FLAGS (\\Seen)")


def test_keywords(conn):
    lines = fetches(ok(conn, "s", "STORE 1 +FLAGS ($Forwarded Project-X)"))
    assert lines == [b"* 1 FETCH (FLAGS ($Forwarded Project-X))"]
    lines = fetches(ok(conn, "s2", "STORE 1 -FLAGS (project-x)"))
    assert lines == [b"* 1 FETCH (FLAGS ($Forwarded))"]


def test_bad_flags(conn):
    for bad in ("STORE 1 +FLAGS (\\Recent)", "STORE 1 +FLAGS (\\Bogus)",
                "STORE 1 +FLAGZ (\\Seen)", "STORE 1 +FLAGS",
                "STORE 99 +FLAGS (\\Seen)", "STORE 1 (UNCHANGEDSINCE x) "
                "+FLAGS (\\Seen)"):
        _, tagged = conn.command("b", bad)
        assert tagged.startswith(b"b BAD"), (bad, tagged)


def test_readonly_is_no(conn):
    select(conn, conn.box, examine=True)
    _, tagged = conn.command("r", "STORE 1 +FLAGS (\\Seen)")
    assert tagged.startswith(b"r NO"), tagged


def test_condstore_modseq_in_responses(conn):
    ok(conn, "e", "ENABLE CONDSTORE")
    before = modseq_of(conn, 1)
    lines = fetches(ok(conn, "s", "STORE 1 +FLAGS (\\Seen)"))
    m = re.match(rb"\* 1 FETCH \(FLAGS \(\\Seen\) MODSEQ \((\d+)\)\)$",
                 lines[0])
    assert m, lines
    assert int(m.group(1)) > before


def test_unchangedsince_rfc7162_example(conn):
    """RFC 7162 3.1.3 example d105: 7,5,9 with UNCHANGEDSINCE; 7 and 9
    were modified after it, so only 5 changes."""
    base = max(modseq_of(conn, i) for i in range(1, 11))
    ok(conn, "p", "STORE 7,9 +FLAGS ($Pre)")  # now newer than base
    lines = ok(conn, "d105", "STORE 7,5,9 (UNCHANGEDSINCE %d) "
               "+FLAGS.SILENT (\\Deleted)" % base)
    f = fetches(lines)
    assert len(f) == 1 and f[0].startswith(b"* 5 FETCH (MODSEQ ("), f
    assert b"\\Deleted" in flags_of(conn, 5)
    assert b"\\Deleted" not in flags_of(conn, 7)


def test_unchangedsince_modified_code(conn):
    base = max(modseq_of(conn, i) for i in (1, 2, 3))
    ok(conn, "p", "STORE 2 +FLAGS (\\Flagged)")
    lines, tagged = conn.command("c", "STORE 1:3 (UNCHANGEDSINCE %d) "
                                 "+FLAGS (\\Answered)" % base)
    assert tagged.startswith(b"c OK [MODIFIED 2]"), tagged
    assert b"\\Answered" not in flags_of(conn, 2)
    assert b"\\Answered" in flags_of(conn, 1)


def test_unchangedsince_zero_fails_all(conn):
    lines, tagged = conn.command("z", "UID STORE %d:%d (UNCHANGEDSINCE 0) "
                                 "+FLAGS (\\Seen)" % (conn.uids[0],
                                                      conn.uids[1]))
    assert tagged.startswith(b"z OK [MODIFIED %d:%d]"
                             % (conn.uids[0], conn.uids[1])), tagged
    assert fetches(lines) == []


def test_store_large_set_streams(conn):
    """The responses of a STORE are written as the output drains."""
    for i in range(30):
        ok(conn, "k%d" % i, "STORE 1:* +FLAGS (kw%d)" % i)
    lines = fetches(ok(conn, "all", "STORE 1:* -FLAGS (\\Seen)"))
    assert len(lines) == 10
