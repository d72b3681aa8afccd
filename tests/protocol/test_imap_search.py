"""SEARCH and UID SEARCH (RFC 9051 6.4.4): every key, CHARSET with
non-ASCII text in several encodings (RFC 2047 Q/B words, quoted-printable
and base64 bodies, ISO-8859-1, windows-1252, KOI8-R), BADCHARSET, ESEARCH
(RFC 4731), SEARCHRES (RFC 5182), MODSEQ (RFC 7162) and the limits."""

import base64
import re

import pytest

from test_imap_fetch import append, create_mailbox, login, ok, select

U, P = "search@example.org", "search-pw-1"

RU = "\u041f\u0440\u0438\u0432\u0435\u0442"  # "Privet" in Cyrillic
RU_WORLD = "\u043c\u0438\u0440"

M1 = (b"From: Alice Example <alice@example.com>\r\n"
      b"To: Zed <zed@example.org>\r\n"
      b"Subject: Hello world\r\n"
      b"Date: Sun, 1 Feb 2026 09:00:00 +0000\r\n"
      b"\r\n"
      b"the quick brown fox\r\n")
M2 = (b"From: Bert <bert@example.com>\r\n"
      b"To: Bob <bob@example.org>\r\n"
      b"Cc: Carol <carol@example.net>\r\n"
      b"Subject: =?ISO-8859-1?Q?Caf=E9?= menu\r\n"
      b"Date: Tue, 10 Feb 2026 23:30:00 -0800\r\n"
      b"MIME-Version: 1.0\r\n"
      b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
      b"Content-Transfer-Encoding: quoted-printable\r\n"
      b"\r\n"
      b"Un caf=E9 au lait, s'il vous pla=EEt\r\n")
M3 = (b"From: Ivan <ivan@example.ru>\r\n"
      b"To: zed@example.org\r\n"
      b"Subject: =?KOI8-R?B?" + base64.b64encode(RU.encode("koi8-r")) +
      b"?=\r\n"
      b"Date: Fri, 20 Feb 2026 12:00:00 +0300\r\n"
      b"MIME-Version: 1.0\r\n"
      b"Content-Type: text/plain; charset=koi8-r\r\n"
      b"Content-Transfer-Encoding: base64\r\n"
      b"\r\n" + base64.b64encode(("%s %s" % (RU, RU_WORLD))
                                 .encode("koi8-r")) + b"\r\n")
M4 = (b"From: Shop <shop@example.com>\r\n"
      b"To: zed@example.org\r\n"
      b"Bcc: Dave <dave@example.net>\r\n"
      b"Subject: Euro price\r\n"
      b"Date: Sun, 1 Mar 2026 08:00:00 +0100\r\n"
      b"MIME-Version: 1.0\r\n"
      b"Content-Type: text/plain; charset=windows-1252\r\n"
      b"Content-Transfer-Encoding: 8bit\r\n"
      b"\r\n"
      b"Only 5\x80uro today\r\n")
M5 = (b"From: Klaus <klaus@example.de>\r\n"
      b"To: zed@example.org\r\n"
      b"Subject: Gruss\r\n"
      b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n"
      b"X-Custom: magic-value\r\n"
      b"MIME-Version: 1.0\r\n"
      b"Content-Type: multipart/mixed; boundary=\"zz\"\r\n"
      b"\r\n"
      b"--zz\r\n"
      b"Content-Type: text/plain; charset=utf-8\r\n"
      b"Content-Transfer-Encoding: base64\r\n"
      b"\r\n" + base64.b64encode("Gr\u00fc\u00dfe aus K\u00f6ln".encode())
      + b"\r\n"
      b"--zz\r\n"
      b"Content-Type: application/octet-stream\r\n"
      b"Content-Transfer-Encoding: base64\r\n"
      b"\r\n" + base64.b64encode(b"needle-in-attachment") + b"\r\n"
      b"--zz--\r\n")
M6 = (b"From: big@example.com\r\n"
      b"Subject: no date here\r\n"
      b"\r\n" + b"filler line of text\r\n" * 3000)

MSGS = [
    (M1, "\\Seen", "01-Feb-2026 09:00:00 +0000"),
    (M2, "\\Flagged \\Answered", "10-Feb-2026 23:30:00 -0800"),
    (M3, "\\Draft $Work", "20-Feb-2026 12:00:00 +0300"),
    (M4, "\\Deleted", "01-Mar-2026 08:00:00 +0100"),
    (M5, "", "02-Mar-2026 10:00:00 +0100"),
    (M6, "", "15-Mar-2026 10:00:00 +0000"),
]


@pytest.fixture(scope="module")
def uids(instance):
    instance.add_user(U, P)
    c = login(instance, U, P)
    create_mailbox(c, "srch")
    out = [append(c, "srch", m, flags=f, date=d, tag="a%d" % i)
           for i, (m, f, d) in enumerate(MSGS)]
    c.close()
    return out


@pytest.fixture
def conn(instance, uids):
    c = login(instance, U, P)
    select(c, "srch")
    yield c
    c.close()


def search(c, criteria, tag="s"):
    """Sequence numbers of a plain SEARCH."""
    lines = ok(c, tag, "SEARCH " + criteria)
    (line,) = [l for l in lines if l.startswith(b"* SEARCH")]
    return [int(x) for x in line.split()[2:] if x.isdigit()]


def search_lit(c, prefix, text, charset="UTF-8", enc=None, tag="sl"):
    """SEARCH CHARSET x <prefix> {literal}."""
    data = text.encode(enc or charset)
    c.send(b"%s SEARCH CHARSET %s %s {%d+}\r\n" % (
        tag.encode(), charset.encode(), prefix.encode(), len(data)))
    c.send(data + b"\r\n")
    lines = c.read_until_tagged(tag)
    assert lines[-1].startswith(tag.encode() + b" OK"), lines
    (line,) = [l for l in lines if l.startswith(b"* SEARCH")]
    return [int(x) for x in line.split()[2:]]


KEYS = [
    ("ALL", [1, 2, 3, 4, 5, 6]),
    ("SEEN", [1]), ("UNSEEN", [2, 3, 4, 5, 6]),
    ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4, 5, 6]),
    ("ANSWERED", [2]), ("UNANSWERED", [1, 3, 4, 5, 6]),
    ("DRAFT", [3]), ("UNDRAFT", [1, 2, 4, 5, 6]),
    ("DELETED", [4]), ("UNDELETED", [1, 2, 3, 5, 6]),
    ("KEYWORD $Work", [3]), ("UNKEYWORD $work", [1, 2, 4, 5, 6]),
    ("KEYWORD $Nope", []),
    ("NEW", []), ("RECENT", []), ("OLD", [1, 2, 3, 4, 5, 6]),
    ("FROM alice", [1]), ("FROM EXAMPLE.COM", [1, 2, 4, 6]),
    ("TO bob", [2]), ("CC carol", [2]), ("BCC dave", [4]),
    ("SUBJECT hello", [1]), ('SUBJECT "price"', [4]),
    ("HEADER X-Custom magic", [5]), ('HEADER x-custom ""', [5]),
    ('HEADER Date ""', [1, 2, 3, 4, 5]),
    ("BODY fox", [1]), ('BODY "AU LAIT"', [2]), ("BODY needle", []),
    ("TEXT alice", [1]), ("TEXT FOX", [1]), ("TEXT magic-value", [5]),
    ("LARGER 10000", [6]), ("SMALLER 10000", [1, 2, 3, 4, 5]),
    ("BEFORE 10-Feb-2026", [1]), ("ON 10-Feb-2026", [2]),
    ("SINCE 1-Mar-2026", [4, 5, 6]),
    ("SENTBEFORE 2-Feb-2026", [1]), ('SENTON "20-Feb-2026"', [3]),
    ("SENTSINCE 2-Mar-2026", [5, 6]),
    ("NOT SEEN", [2, 3, 4, 5, 6]), ("OR SEEN FLAGGED", [1, 2]),
    ("OR (SEEN) (DRAFT KEYWORD $Work)", [1, 3]),
    ("2:3", [2, 3]), ("2,4:*", [2, 4, 5, 6]), ("NOT 1:5", [6]),
    ("UNSEEN SMALLER 10000 NOT DELETED", [2, 3, 5]),
    ("(OR FROM alice FROM klaus) BODY fox", [1]),
]


@pytest.mark.parametrize("criteria,expected", KEYS,
                         ids=[k[0] for k in KEYS])
def test_keys(conn, criteria, expected):
    assert search(conn, criteria) == expected


def test_uid_key_and_uid_search(conn, uids):
    assert search(conn, "UID %d,%d" % (uids[1], uids[4])) == [2, 5]
    lines = ok(conn, "u", "UID SEARCH FLAGGED")
    assert b"* SEARCH %d" % uids[1] in lines
    lines = ok(conn, "u2", "UID SEARCH UID %d:*" % uids[4])
    assert b"* SEARCH %d %d" % (uids[4], uids[5]) in lines


@pytest.mark.parametrize("prefix,text,charset,expected", [
    ("SUBJECT", "caf\u00e9", "UTF-8", [2]),        # Q word, ISO-8859-1
    ("SUBJECT", "CAF\u00c9", "UTF-8", [2]),        # case-insensitive
    ("BODY", "caf\u00e9 au", "UTF-8", [2]),        # QP ISO-8859-1 body
    ("SUBJECT", RU.lower(), "UTF-8", [3]),          # B word, KOI8-R
    ("BODY", RU_WORLD, "UTF-8", [3]),               # base64 KOI8-R body
    ("BODY", "\u20acuro", "UTF-8", [4]),            # 8bit windows-1252
    ("BODY", "gr\u00fc\u00dfe", "UTF-8", [5]),      # base64 UTF-8 part
    ("TEXT", "k\u00f6ln", "UTF-8", [5]),
    ("SUBJECT", "caf\u00e9", "ISO-8859-1", [2]),    # CHARSET conversion
    ("BODY", RU_WORLD, "KOI8-R", [3]),
    ("BODY", "\u20acuro", "windows-1252", [4]),
])
def test_charsets(conn, prefix, text, charset, expected):
    assert search_lit(conn, prefix, text, charset) == expected


def test_badcharset(conn):
    _, tagged = conn.command("b", "SEARCH CHARSET X-NO-SUCH SUBJECT x")
    assert tagged.startswith(b"b NO [BADCHARSET"), tagged
    _, tagged = conn.command("b2", "SEARCH CHARSET US-ASCII SUBJECT x")
    assert tagged.startswith(b"b2 OK"), tagged


def test_esearch(conn, uids):
    lines = ok(conn, "A282", "SEARCH RETURN (MIN MAX COUNT) UNSEEN")
    assert b'* ESEARCH (TAG "A282") MIN 2 MAX 6 COUNT 5' in lines, lines
    lines = ok(conn, "A283", "SEARCH RETURN () UNSEEN")
    assert b'* ESEARCH (TAG "A283") ALL 2:6' in lines, lines
    lines = ok(conn, "A284", "UID SEARCH RETURN (ALL COUNT) OR SEEN DRAFT")
    assert (b'* ESEARCH (TAG "A284") UID COUNT 2 ALL %d,%d'
            % (uids[0], uids[2])) in lines, lines
    lines = ok(conn, "A285", "SEARCH RETURN (MIN MAX COUNT ALL) KEYWORD x")
    assert b'* ESEARCH (TAG "A285") COUNT 0' in lines, lines
    _, tagged = conn.command("A286", "SEARCH RETURN (BOGUS) ALL")
    assert tagged.startswith(b"A286 BAD"), tagged


def test_imap4rev2_gets_esearch(conn):
    ok(conn, "e", "ENABLE IMAP4rev2")
    lines = ok(conn, "r2", "SEARCH FLAGGED")
    assert b'* ESEARCH (TAG "r2") ALL 2' in lines, lines
    assert not any(l.startswith(b"* SEARCH") for l in lines)


def test_searchres_save(conn, uids):
    lines = ok(conn, "v1", "SEARCH RETURN (SAVE) OR FLAGGED DRAFT")
    assert not any(b"SEARCH" in l for l in lines)  # SAVE alone: nothing
    lines = ok(conn, "v2", "FETCH $ (UID)")
    got = sorted(int(x) for x in re.findall(rb"UID (\d+)", b" ".join(lines)))
    assert got == [uids[1], uids[2]]
    assert search(conn, "$ SEEN") == []
    assert search(conn, "OR $ SEEN") == [1, 2, 3]
    # MIN only: only the smallest is saved (RFC 5182 2.4)
    ok(conn, "v3", "SEARCH RETURN (SAVE MIN) UNSEEN")
    assert search(conn, "$") == [2]
    lines = ok(conn, "v4", "UID SEARCH RETURN (SAVE ALL) LARGER 10000")
    assert b'* ESEARCH (TAG "v4") UID ALL %d' % uids[5] in lines
    assert search(conn, "$") == [6]
    # a failed SAVE leaves $ empty
    conn.command("v5", "SEARCH RETURN (SAVE) BOGUS")
    assert search(conn, "$") == []


def test_modseq(conn):
    lines = ok(conn, "m", "FETCH 3 MODSEQ")
    ms = int(re.search(rb"MODSEQ \((\d+)\)", b" ".join(lines)).group(1))
    lines = ok(conn, "m2", "SEARCH MODSEQ %d" % ms)
    (line,) = [l for l in lines if l.startswith(b"* SEARCH")]
    assert re.match(rb"\* SEARCH( \d+)+ \(MODSEQ \d+\)$", line), line
    lines = ok(conn, "m3", 'SEARCH MODSEQ "/flags/\\\\draft" all %d' % ms)
    assert any(l.startswith(b"* SEARCH") for l in lines)
    lines = ok(conn, "m4", "SEARCH RETURN (COUNT) MODSEQ 1")
    assert re.search(rb'\* ESEARCH \(TAG "m4"\) COUNT 6 MODSEQ \d+',
                     b"\n".join(lines)), lines


def test_bad_and_limits(conn):
    for bad in ("SEARCH", "SEARCH BOGUS", "SEARCH LARGER x",
                "SEARCH BEFORE 32-Jan-2026", "SEARCH OR SEEN",
                "SEARCH NOT", "SEARCH ()", "SEARCH " + "NOT " * 100 + "ALL",
                "SEARCH " + "ALL " * 1500, "SEARCH 7"):
        _, tagged = conn.command("x", bad)
        assert tagged.startswith(b"x BAD"), (bad[:40], tagged)
