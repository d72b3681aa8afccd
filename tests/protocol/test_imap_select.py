"""SELECT, EXAMINE, STATUS, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, CHECK,
NOOP, ENABLE and CONDSTORE/QRESYNC selection (RFC 9051 6.3.2-6.3.3,
6.3.11, 6.4.1-6.4.3, RFC 4315 2.1, RFC 7162 3.1-3.2, RFC 5161)."""

import re

import helpers
from imapa import (append, bad, code_of, exists, expunges, fetch_flags,
                   message, no, ok, poke, users_fixture)

U, P = "select@example.org", "select-pw-1"
U2, P2 = "qresync@example.org", "qresync-pw-1"


users = users_fixture((U, P), (U2, P2))


def test_capabilities(instance):
    c = instance.login(U, P)
    lines, _ = ok(c, "c", "CAPABILITY")
    caps = helpers.caps_of(lines)
    for cap in ("IMAP4REV1", "IMAP4REV2", "LITERAL+", "ENABLE", "IDLE",
                "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN",
                "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
                "CREATE-SPECIAL-USE", "ESEARCH", "SEARCHRES", "CONDSTORE",
                "QRESYNC", "STATUS=SIZE", "BINARY", "UTF8=ACCEPT", "ID"):
        assert cap in caps, (cap, caps)
    assert any(x.startswith("APPENDLIMIT=") for x in caps), caps
    c.close()


def test_select_new_account(instance):
    """RFC 9051 6.3.2 / 3501 6.3.1: the required responses, in a new
    account's empty INBOX."""
    c = instance.login(U, P)
    lines, tagged = ok(c, "s", "SELECT INBOX")
    assert b"* 0 EXISTS" in lines
    assert b"* 0 RECENT" in lines  # IMAP4rev1 session
    text = b"\n".join(lines)
    assert re.search(rb"\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen "
                     rb"\\Draft\)", text), lines
    assert re.search(rb"\* OK \[PERMANENTFLAGS \(.*\\\*\)\]", text), lines
    uv = code_of(text, "UIDVALIDITY")
    assert uv and int(uv) > 0
    assert code_of(text, "UIDNEXT") == "1"
    # RFC 7162 3.1.2.1: always, since every mailbox has modseqs
    assert int(code_of(text, "HIGHESTMODSEQ")) >= 1
    assert b"NOMODSEQ" not in text
    assert tagged.startswith(b"s OK [READ-WRITE]")
    # EXAMINE: read-only, no permanent flags
    lines, tagged = ok(c, "e", "EXAMINE INBOX")
    assert tagged.startswith(b"e OK [READ-ONLY]")
    assert b"* OK [PERMANENTFLAGS ()] Read-only mailbox" in lines
    # UIDVALIDITY is stable
    assert code_of(b"\n".join(lines), "UIDVALIDITY") == uv
    no(c, "x", "SELECT nosuch", "NONEXISTENT")
    # a failed SELECT leaves the authenticated state (RFC 9051 6.3.2)
    bad(c, "f", "FETCH 1 FLAGS")
    c.close()


def test_select_rev2(instance):
    """IMAP4rev2: no RECENT, a LIST response, [CLOSED] on reselect."""
    c = instance.login(U, P)
    ok(c, "en", "ENABLE IMAP4rev2")
    lines, _ = ok(c, "s", "SELECT Drafts")
    assert not any(b"RECENT" in l for l in lines)
    assert b'* LIST (\\Drafts) "/" "Drafts"' in lines, lines
    lines, _ = ok(c, "s2", "SELECT INBOX")
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed", lines
    lines, _ = ok(c, "st", "STATUS INBOX (MESSAGES)")
    bad(c, "st2", "STATUS INBOX (RECENT)")  # gone in IMAP4rev2
    c.close()


def test_first_unseen_and_status(instance):
    c = instance.login(U, P)
    ok(c, "cr", "CREATE status-box")
    append(c, "status-box", message(1), flags="\\Seen")
    append(c, "status-box", message(2, size=500))
    append(c, "status-box", message(3), flags="\\Deleted \\Seen")
    lines, _ = ok(c, "st", "STATUS status-box (MESSAGES UIDNEXT UIDVALIDITY "
                  "UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ)")
    m = re.match(rb'\* STATUS "status-box" \(MESSAGES 3 UIDNEXT 4 '
                 rb'UIDVALIDITY (\d+) UNSEEN 1 DELETED 1 SIZE (\d+) '
                 rb'RECENT 0 HIGHESTMODSEQ (\d+)\)$', lines[0])
    assert m, lines
    size = sum(len(message(i, size=500 if i == 2 else None))
               for i in (1, 2, 3))
    assert int(m.group(2)) == size
    lines, _ = ok(c, "s", "SELECT status-box")
    assert b"* 3 EXISTS" in lines
    assert b"* OK [UNSEEN 2] First unseen" in lines, lines
    no(c, "st3", "STATUS nosuch (MESSAGES)", "NONEXISTENT")
    bad(c, "st4", "STATUS INBOX (BOGUS)")
    bad(c, "st5", "STATUS INBOX ()")
    c.close()


def test_expunge_close_unselect(instance):
    c = instance.login(U, P)
    ok(c, "cr", "CREATE exp-box")
    for i in range(1, 6):
        append(c, "exp-box", message(i),
               flags="\\Deleted" if i in (2, 3, 5) else "")
    ok(c, "s", "SELECT exp-box")
    # RFC 9051 6.4.3 example: numbers as each EXPUNGE applies
    lines, _ = ok(c, "e", "EXPUNGE")
    assert expunges(lines) == [5, 3, 2], lines
    lines, _ = ok(c, "n", "NOOP")
    assert expunges(lines) == []
    # UID EXPUNGE only touches the set (RFC 4315 2.1)
    for i in range(6, 9):
        append(c, "exp-box", message(i), flags="\\Deleted")
    # (the APPENDs' own responses carried the EXISTS)
    lines, _ = ok(c, "n2", "UID SEARCH ALL")
    assert lines == [b"* SEARCH 1 4 6 7 8"], lines
    lines, tagged = ok(c, "ue", "UID EXPUNGE 6:7")
    assert expunges(lines) == [4, 3], lines
    lines, _ = ok(c, "f", "UID SEARCH DELETED")
    assert lines == [b"* SEARCH 8"], lines
    # EXAMINE: EXPUNGE refused, CLOSE expunges nothing
    ok(c, "ex", "EXAMINE exp-box")
    no(c, "e2", "EXPUNGE")
    ok(c, "cl", "CLOSE")
    lines, _ = ok(c, "st", "STATUS exp-box (MESSAGES DELETED)")
    assert lines == [b'* STATUS "exp-box" (MESSAGES 3 DELETED 1)'], lines
    # CLOSE on a read-write mailbox expunges silently
    ok(c, "s2", "SELECT exp-box")
    lines, _ = ok(c, "cl2", "CLOSE")
    assert lines == [], lines
    lines, _ = ok(c, "st2", "STATUS exp-box (MESSAGES DELETED)")
    assert lines == [b'* STATUS "exp-box" (MESSAGES 2 DELETED 0)'], lines
    bad(c, "f2", "FETCH 1 FLAGS")  # not selected any more
    # UNSELECT never expunges (RFC 3691)
    ok(c, "s3", "SELECT exp-box")
    ok(c, "st3", "STORE 1 +FLAGS (\\Deleted)")
    ok(c, "un", "UNSELECT")
    lines, _ = ok(c, "st4", "STATUS exp-box (MESSAGES DELETED)")
    assert lines == [b'* STATUS "exp-box" (MESSAGES 2 DELETED 1)'], lines
    bad(c, "un2", "UNSELECT")
    ok(c, "s4", "SELECT exp-box")
    ok(c, "ck", "CHECK")
    c.close()


def test_enable(instance):
    """RFC 5161 / 7162: ENABLED lists only what is new; QRESYNC implies
    CONDSTORE; unknown names are ignored."""
    c = instance.login(U, P)
    lines, _ = ok(c, "e", "ENABLE CONDSTORE X-UNKNOWN")
    assert lines == [b"* ENABLED CONDSTORE"], lines
    lines, _ = ok(c, "e2", "ENABLE CONDSTORE QRESYNC")
    assert lines == [b"* ENABLED QRESYNC"], lines
    c.close()
    c = instance.login(U, P)
    ok(c, "s", "SELECT INBOX")
    # a CONDSTORE-enabling command while selected reports HIGHESTMODSEQ
    lines, _ = ok(c, "e", "ENABLE CONDSTORE")
    assert any(l.startswith(b"* OK [HIGHESTMODSEQ ") for l in lines), lines
    c.close()


def test_select_condstore(instance):
    """RFC 7162 3.1.8 example, adapted."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE cs-box")
    append(c, "cs-box", message(1))
    lines, tagged = ok(c, "s", "SELECT cs-box (CONDSTORE)")
    assert b"CONDSTORE" in tagged
    hms = int(code_of(b"\n".join(lines), "HIGHESTMODSEQ"))
    # CONDSTORE is on: unsolicited FETCH carries MODSEQ
    poke(instance, U, "flags", "cs-box", 1, 1, "+1")
    lines, _ = ok(c, "n", "NOOP")
    f = fetch_flags(lines)
    assert f[1][0] == 1 and f[1][1] == b"\\Seen" and f[1][2] > hms, lines
    bad(c, "s2", "SELECT cs-box (BOGUS)")
    bad(c, "s3", "SELECT cs-box (QRESYNC (1 1))")  # not enabled
    c.close()


def test_qresync_select(instance):
    """RFC 7162 3.2.5: VANISHED (EARLIER) and FETCH of what changed since
    the client's modseq, limited to known UIDs; nothing for a stale
    UIDVALIDITY."""
    c = instance.login(U2, P2)
    ok(c, "e", "ENABLE QRESYNC")
    for i in range(1, 11):
        append(c, "INBOX", message(i))
    lines, _ = ok(c, "s", "SELECT INBOX")
    text = b"\n".join(lines)
    uv = int(code_of(text, "UIDVALIDITY"))
    ms = int(code_of(text, "HIGHESTMODSEQ"))
    ok(c, "un", "UNSELECT")
    # meanwhile: another process expunges 3:4 and 9, flags 6
    poke(instance, U2, "expunge", "INBOX", 3, 4)
    poke(instance, U2, "expunge", "INBOX", 9, 9)
    poke(instance, U2, "flags", "INBOX", 6, 6, "+4")
    lines, tagged = ok(c, "s2", "SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
    assert b"* 7 EXISTS" in lines
    assert b"* VANISHED (EARLIER) 3:4,9" in lines, lines
    f = fetch_flags(lines)
    assert list(f) == [4], f  # UID 6 is message 4 now
    assert f[4][0] == 6 and f[4][1] == b"\\Flagged" and f[4][2] > ms
    # the fetches come after the VANISHED (RFC 7162 3.2.5.1)
    vi = lines.index(b"* VANISHED (EARLIER) 3:4,9")
    fi = [i for i, l in enumerate(lines) if b" FETCH " in l][0]
    assert vi < fi
    # with known UIDs: only those are reported
    lines, tagged = ok(c, "s3", "SELECT INBOX (QRESYNC (%d %d 1:3,6))"
                       % (uv, ms))
    assert lines[0] == b"* OK [CLOSED] Previous mailbox closed"
    assert b"* VANISHED (EARLIER) 3" in lines, lines
    assert list(fetch_flags(lines)) == [4]
    # seq-match-data is accepted (and not needed: the history is complete)
    lines, _ = ok(c, "s4", "SELECT INBOX (QRESYNC (%d %d 1:10 (1:5 1:5)))"
                  % (uv, ms))
    assert b"* VANISHED (EARLIER) 3:4,9" in lines
    # a stale UIDVALIDITY: a plain SELECT
    lines, _ = ok(c, "s5", "SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, ms))
    assert not any(b"VANISHED" in l or b"FETCH" in l for l in lines), lines
    # up to date: nothing
    now = int(code_of(b"\n".join(lines), "HIGHESTMODSEQ"))
    lines, _ = ok(c, "s6", "SELECT INBOX (QRESYNC (%d %d))" % (uv, now))
    assert not any(b"VANISHED" in l or b"FETCH" in l for l in lines), lines
    bad(c, "s7", "SELECT INBOX (QRESYNC (0 1))")
    bad(c, "s8", "SELECT INBOX (QRESYNC (%d))" % uv)
    bad(c, "s9", "SELECT INBOX (QRESYNC (%d 1 x:y))" % uv)
    # with QRESYNC enabled, expunges are VANISHED, not EXPUNGE
    ok(c, "s10", "SELECT INBOX")
    ok(c, "st", "STORE 1:2 +FLAGS.SILENT (\\Deleted)")
    lines, _ = ok(c, "ex", "EXPUNGE")
    assert lines == [b"* VANISHED 1:2"], lines
    c.close()
