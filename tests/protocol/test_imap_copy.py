"""COPY, MOVE and their UID forms (RFC 9051 6.4.7, RFC 6851 MOVE,
RFC 4315 COPYUID)."""

from imapa import (append, bad, code_of, expunges, message, no, ok,
                   users_fixture)

U, P = "copy@example.org", "copy-pw-1"


users = users_fixture((U, P))


def uids(c, tag="us"):
    lines, _ = ok(c, tag, "UID SEARCH ALL")
    return [int(x) for x in lines[0].split()[2:]]


def test_copy(instance):
    c = instance.login(U, P)
    ok(c, "cr", "CREATE src")
    ok(c, "cr2", "CREATE dst")
    for i in range(1, 6):
        append(c, "src", message(i), flags="\\Flagged" if i == 2 else "")
    lines, _ = ok(c, "st", "STATUS dst (UIDVALIDITY)")
    dst_uv = lines[0].split(b"UIDVALIDITY ")[1].rstrip(b")").decode()
    ok(c, "s", "SELECT src")
    lines, tagged = ok(c, "c1", "COPY 2:4 dst")
    assert code_of(tagged, "COPYUID") == "%s 2:4 1:3" % dst_uv, tagged
    lines, tagged = ok(c, "c2", "UID COPY 5,1 dst")
    assert code_of(tagged, "COPYUID") == "%s 1,5 4:5" % dst_uv, tagged
    # flags travel with the copy; the source is unchanged
    assert len(uids(c)) == 5
    ok(c, "s2", "EXAMINE dst")
    lines, _ = ok(c, "f", "FETCH 1 FLAGS")
    assert b"\\Flagged" in lines[0], lines
    ok(c, "s3", "SELECT src")
    # TRYCREATE, bad sets, nothing to copy
    no(c, "c3", "COPY 1 nosuch", "TRYCREATE")
    bad(c, "c4", "COPY 9 dst")  # beyond EXISTS
    bad(c, "c5", "COPY x dst")
    lines, tagged = ok(c, "c6", "UID COPY 999 dst")
    assert b"COPYUID" not in tagged
    c.close()


def test_move(instance):
    """RFC 6851 4.3 example: COPYUID in an untagged OK, then the
    expunges, then the tagged OK."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE mv-src")
    ok(c, "cr2", "CREATE mv-dst")
    for i in range(1, 5):
        append(c, "mv-src", message(i))
    ok(c, "s", "SELECT mv-src")
    lines, tagged = ok(c, "m", "MOVE 2:3 mv-dst")
    assert lines[0].startswith(b"* OK [COPYUID ") and b" 2:3 1:2]" in \
        lines[0], lines
    assert expunges(lines) == [3, 2], lines
    assert tagged == b"m OK MOVE completed"
    assert uids(c) == [1, 4]
    # UID MOVE with QRESYNC: VANISHED instead of EXPUNGE
    ok(c, "e", "ENABLE QRESYNC")
    lines, _ = ok(c, "um", "UID MOVE 4 mv-dst")
    assert lines[0].startswith(b"* OK [COPYUID ") and b" 4 3]" in lines[0]
    assert lines[1:] == [b"* VANISHED 4"], lines
    # a MOVE into the same mailbox renumbers
    lines, _ = ok(c, "m2", "MOVE 1 mv-src")
    assert lines[1:] == [b"* VANISHED 1", b"* 1 EXISTS"], lines
    lines, _ = ok(c, "st", "STATUS mv-dst (MESSAGES)")
    assert lines == [b'* STATUS "mv-dst" (MESSAGES 3)']
    no(c, "m3", "MOVE 1 nosuch", "TRYCREATE")
    # read-only: MOVE refused, COPY allowed
    ok(c, "ex", "EXAMINE mv-dst")
    no(c, "m4", "MOVE 1 mv-src")
    ok(c, "c", "COPY 1 mv-src")
    c.close()


def test_copy_seen_by_other_session(instance):
    """A COPY into a mailbox another session has selected shows up there as
    EXISTS at its next command."""
    c = instance.login(U, P)
    other = instance.login(U, P)
    ok(c, "cr", "CREATE watch")
    ok(other, "s", "SELECT watch")
    ok(c, "s", "SELECT src")
    ok(c, "c", "COPY 1:3 watch")
    lines, _ = ok(other, "n", "NOOP")
    assert lines == [b"* 3 EXISTS"], lines
    c.close()
    other.close()
