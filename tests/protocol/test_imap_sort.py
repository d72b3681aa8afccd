"""SORT, UID SORT, ESORT (RFC 5256, 5267, 5957) and THREAD ORDEREDSUBJECT /
REFERENCES, through Python imaplib and in Roundcube's command forms: sort
keys and threads from the RFC's rules (base subjects, sent dates with and
without Date:, References loops and duplicates)."""

import re

import pytest

import imapa
from test_imap_fetch import append, create_mailbox, login, ok, select

U, P = "sort@example.org", "sort-pw-1"


def msg(subject, frm, date=None, to="zed@example.org", cc=None, mid=None,
        refs=None, irt=None, body="x"):
    h = ["From: %s" % frm, "To: %s" % to, "Subject: %s" % subject]
    if cc:
        h.append("Cc: %s" % cc)
    if date:
        h.append("Date: %s" % date)
    if mid:
        h.append("Message-ID: %s" % mid)
    if refs:
        h.append("References: %s" % refs)
    if irt:
        h.append("In-Reply-To: %s" % irt)
    return ("\r\n".join(h) + "\r\n\r\n" + body + "\r\n").encode()


# (message, INTERNALDATE). Sequence numbers 1..7.
MSGS = [
    # 1: the RFC 5256 base-subject example form
    (msg("Re: [list] Fwd: subject (fwd)", "Carol <carol@c.example>",
         "Mon, 2 Mar 2026 10:00:00 +0000", cc="bob@b.example",
         mid="<1@x>", body="x" * 300),
     "01-Jan-2026 00:00:05 +0000"),
    # 2: no Date: its INTERNALDATE is its sent date (the earliest here)
    (msg("subject", "alice@a.example", None, to="Yves <yves@y.example>",
         mid="<2@x>", refs="<1@x>"), "01-Jan-2020 00:00:00 +0000"),
    # 3: a zone far from UTC: 2026-03-02 01:00 UTC, before message 1
    (msg("Another topic", "=?UTF-8?Q?=C3=89mile?= <emile@e.example>",
         "Sun, 1 Mar 2026 23:00:00 -0200", cc="Amy <amy@a.example>",
         mid="<3@x>"), "01-Jan-2026 00:00:01 +0000"),
    # 4: replies to 3, and its References loop back to itself
    (msg("Re: Another topic", "bob@b.example",
         "Tue, 3 Mar 2026 10:00:00 +0000", mid="<4@x>",
         refs="<3@x> <4@x> <3@x>"), "01-Jan-2026 00:00:04 +0000"),
    # 5: a duplicate Message-ID of 3, replying to a lost message
    (msg("[list] zeta", "dave@d.example", "Wed, 4 Mar 2026 10:00:00 +0000",
         mid="<3@x>", refs="<lost@x>", body="y" * 10),
     "01-Jan-2026 00:00:03 +0000"),
    # 6: a second reply to the lost message (dummy parent of 5 and 6)
    (msg("Re: zeta", "eve@e.example", "Thu, 5 Mar 2026 10:00:00 +0000",
         mid="<6@x>", irt="<lost@x>"), "01-Jan-2026 00:00:02 +0000"),
    # 7: unparsable Date: INTERNALDATE again
    (msg("subject", "Zack <zack@z.example>", "yesterday-ish", mid="<7@x>"),
     "01-Jan-2021 00:00:00 +0000"),
]


@pytest.fixture(scope="module")
def uids(instance):
    instance.add_user(U, P)
    c = login(instance, U, P)
    create_mailbox(c, "s")
    out = [append(c, "s", m, date=d, tag="a%d" % i)
           for i, (m, d) in enumerate(MSGS)]
    c.close()
    return out


@pytest.fixture
def lib(instance, uids):
    m = instance.imaplib_ssl()
    m.login(U, P)
    typ, _ = m.select("s")
    assert typ == "OK"
    yield m
    m.logout()


def sort(m, crit, keys="ALL", uid=False):
    if uid:
        typ, data = m.uid("SORT", crit, "UTF-8", keys)
    else:
        typ, data = m.sort(crit, "UTF-8", keys)
    assert typ == "OK", data
    return [int(x) for x in data[0].split()]


CASES = [
    ("(ARRIVAL)", [2, 7, 3, 6, 5, 4, 1]),
    ("(REVERSE ARRIVAL)", [1, 4, 5, 6, 3, 7, 2]),
    ("(DATE)", [2, 7, 3, 1, 4, 5, 6]),
    ("(REVERSE DATE)", [6, 5, 4, 1, 3, 7, 2]),
    ("(SIZE)", [2, 7, 6, 5, 4, 3, 1]),
    # base subjects: ANOTHER TOPIC x2, SUBJECT x3 (by seq), ZETA x2
    ("(SUBJECT)", [3, 4, 1, 2, 7, 5, 6]),
    ("(SUBJECT REVERSE DATE)", [4, 3, 1, 7, 2, 6, 5]),
    # addr-mailbox of the first From
    ("(FROM)", [2, 4, 1, 5, 3, 6, 7]),
    # DISPLAYFROM: decoded display name, else mailbox@host
    ("(DISPLAYFROM)", [2, 4, 1, 5, 6, 7, 3]),
    ("(TO)", [2, 1, 3, 4, 5, 6, 7]),
    ("(DISPLAYTO)", [2, 1, 3, 4, 5, 6, 7]),
    # no Cc sorts as the empty string, first
    ("(CC DATE)", [2, 7, 4, 5, 6, 3, 1]),
]


@pytest.mark.parametrize("crit,expected", CASES)
def test_sort_criteria(lib, crit, expected):
    assert sort(lib, crit) == expected


def test_sort_with_search_keys_and_uid(lib, uids):
    assert sort(lib, "(DATE)", "FROM b.example") == [4]
    assert sort(lib, "(REVERSE SIZE)", "OR SUBJECT zeta SUBJECT topic") \
        == [3, 4, 5, 6]
    got = sort(lib, "(DATE)", "ALL", uid=True)
    assert got == [uids[i - 1] for i in [2, 7, 3, 1, 4, 5, 6]]


def test_roundcube_forms(instance, uids):
    """Exactly what Roundcube sends (rcube_imap_generic)."""
    c = login(instance, U, P)
    select(c, "s")
    lines = ok(c, "r1", "UID SORT (REVERSE ARRIVAL) UTF-8 ALL")
    (line,) = [l for l in lines if l.startswith(b"* SORT")]
    assert [int(x) for x in line.split()[2:]] == \
        [uids[i - 1] for i in [1, 4, 5, 6, 3, 7, 2]]
    lines = ok(c, "r2", "UID THREAD REFERENCES UTF-8 ALL")
    (line,) = [l for l in lines if l.startswith(b"* THREAD")]
    u = {i + 1: v for i, v in enumerate(uids)}
    assert line.decode() == "* THREAD (%d %d %d)(%d %d)((%d)(%d))" % (
        u[7], u[1], u[2], u[3], u[4], u[5], u[6]), line
    c.close()


def test_capabilities(lib):
    typ, data = lib.capability()
    assert typ == "OK"
    caps = data[0].decode().split()
    for cap in ("SORT", "SORT=DISPLAY", "ESORT", "THREAD=REFERENCES",
                "THREAD=ORDEREDSUBJECT"):
        assert cap in caps, caps


def thread(m, algo, keys="ALL", uid=False):
    if uid:
        typ, data = m.uid("THREAD", algo, "UTF-8", keys)
    else:
        typ, data = m.thread(algo, "UTF-8", keys)
    assert typ == "OK", data
    return data[0].decode() if data[0] else ""


def test_thread_references(lib):
    # 2 answers 1 by References. 4 answers 3 (its self-reference and the
    # repeated <3@x> make no loop). 5 has 3's Message-ID again, so it is
    # not 3; 5 and 6 both answer the lost <lost@x>: a dummy holds them.
    # Roots by sent date: 7 (2021), 3 (2026-03-02 01:00), 1 (10:00), the
    # dummy (its first child 5, 03-04). Subject gathering (step 5): 7 and
    # 1 share the base subject SUBJECT, 1 is a reply and 7 is not, so 1
    # (with 2 below it) becomes 7's child.
    got = thread(lib, "REFERENCES")
    assert got == "(7 1 2)(3 4)((5)(6))", got


def test_thread_orderedsubject(lib):
    # groups by base subject, each by sent date, threads by first date
    got = thread(lib, "ORDEREDSUBJECT")
    assert got == "(2 (7)(1))(3 4)(5 6)", got


def test_thread_search_keys_and_uid(lib, uids):
    assert thread(lib, "REFERENCES", "SUBJECT zeta") == "((5)(6))"
    assert thread(lib, "REFERENCES", "SUBJECT nothing-matches") == ""
    got = thread(lib, "ORDEREDSUBJECT", "SUBJECT topic", uid=True)
    assert got == "(%d %d)" % (uids[2], uids[3]), got


def test_esort(instance, uids):
    c = login(instance, U, P)
    select(c, "s")
    lines = ok(c, "e1", "SORT RETURN (MIN MAX COUNT ALL) (DATE) UTF-8 ALL")
    (line,) = [l for l in lines if l.startswith(b"* ESEARCH")]
    # the order is kept in ALL: ascending runs only become ranges
    assert line == b'* ESEARCH (TAG "e1") MIN 2 MAX 6 COUNT 7 ALL ' \
        b'2,7,3,1,4:6', line
    lines = ok(c, "e2", "UID SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT zeta")
    (line,) = [l for l in lines if l.startswith(b"* ESEARCH")]
    assert line == b'* ESEARCH (TAG "e2") UID COUNT 2', line
    lines = ok(c, "e3", "UID SORT RETURN () (REVERSE DATE) UTF-8 ALL")
    (line,) = [l for l in lines if l.startswith(b"* ESEARCH")]
    want = ",".join(str(uids[i - 1]) for i in [6, 5, 4, 1, 3, 7, 2])
    assert line == b'* ESEARCH (TAG "e3") UID ALL ' + want.encode(), line
    lines = ok(c, "e4", "SORT RETURN (MIN) (DATE) UTF-8 SUBJECT nothing")
    (line,) = [l for l in lines if l.startswith(b"* ESEARCH")]
    assert line == b'* ESEARCH (TAG "e4")', line
    c.close()


@pytest.mark.parametrize("cmd,want", [
    ("SORT (NOSUCH) UTF-8 ALL", b"BAD"),
    ("SORT () UTF-8 ALL", b"BAD"),
    ("SORT (REVERSE) UTF-8 ALL", b"BAD"),
    ("SORT (REVERSE REVERSE DATE) UTF-8 ALL", b"BAD"),
    ("SORT DATE UTF-8 ALL", b"BAD"),
    ("SORT (DATE) UTF-8", b"BAD"),
    ("SORT (DATE) UTF-8 NOSUCHKEY", b"BAD"),
    ("SORT (DATE) X-UNKNOWN-CHARSET ALL", b"NO [BADCHARSET"),
    ("SORT RETURN (SAVE) (DATE) UTF-8 ALL", b"BAD"),
    ("SORT RETURN (BOGUS) (DATE) UTF-8 ALL", b"BAD"),
    ("THREAD NOSUCH UTF-8 ALL", b"BAD"),
    ("THREAD REFERENCES", b"BAD"),
    ("THREAD REFERENCES X-UNKNOWN-CHARSET ALL", b"NO [BADCHARSET"),
])
def test_errors(instance, uids, cmd, want):
    c = login(instance, U, P)
    select(c, "s")
    _, tagged = c.command("x", cmd)
    assert tagged.startswith(b"x " + want), tagged
    _, tagged = c.command("y", "NOOP")
    assert tagged.startswith(b"y OK")
    c.close()


def test_sort_needs_selected(instance, uids):
    c = login(instance, U, P)
    _, tagged = c.command("x", "SORT (DATE) UTF-8 ALL")
    assert tagged.startswith(b"x BAD"), tagged
    _, tagged = c.command("y", "THREAD REFERENCES UTF-8 ALL")
    assert tagged.startswith(b"y BAD"), tagged
    c.close()


def test_long_subjects_compare_on_their_first_1024_bytes(instance, uids):
    """SORT_STRING_MAX: keys are cut at 1024 bytes, so two subjects that
    differ only after that sort as equal (then by sequence number)."""
    c = login(instance, U, P)
    create_mailbox(c, "long")
    stem = "x" * 1100
    for i, tail in enumerate(["b", "a"]):
        append(c, "long", msg(stem + tail, "a@a.example"), tag="l%d" % i)
    for i, head in enumerate(["b", "a"]):
        append(c, "long", msg(head + stem, "a@a.example"), tag="h%d" % i)
    select(c, "long")
    lines = ok(c, "s", "SORT (SUBJECT) UTF-8 ALL")
    (line,) = [l for l in lines if l.startswith(b"* SORT")]
    assert line == b"* SORT 4 3 1 2", line
    c.close()
