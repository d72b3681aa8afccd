"""SELECT of a big mailbox starts from the worker's cached message list
(imap/imap_mbcache.c) and reads only the changes since; whatever changed in
between, by this worker or another process, the new session's view must be
exactly the store's. Ground truth comes from store-poke (the store itself).
Also the per-command change check: a session sees another process's commit
and its own worker's at the next command."""

import re

from imapa import code_of, exists, ok, poke, users_fixture

U, P = "cache@example.org", "cache-pw-1"
N = 2500  # above IMAP_MBCACHE_MIN_MESSAGES, so the list is cached

users = users_fixture((U, P))


def _truth(instance, mailbox):
    uids = [int(x) for x in poke(instance, U, "uids", mailbox).split()]
    st = poke(instance, U, "status", mailbox).split()
    return uids, {"messages": int(st[0]), "uidnext": int(st[1]),
                  "uidvalidity": int(st[2]), "highestmodseq": int(st[3])}


def _select(instance, mailbox):
    """A fresh connection's SELECT (CONDSTORE): (conn, lines, tagged)."""
    c = instance.login(U, P)
    lines, tagged = ok(c, "s", "SELECT %s (CONDSTORE)" % mailbox)
    return c, lines, tagged


def _check_view(instance, c, lines, mailbox):
    uids, st = _truth(instance, mailbox)
    assert exists(lines) == len(uids) == st["messages"], (exists(lines), st)
    text = b"\n".join(lines)
    assert int(code_of(text, "UIDNEXT")) == st["uidnext"]
    assert int(code_of(text, "UIDVALIDITY")) == st["uidvalidity"]
    assert int(code_of(text, "HIGHESTMODSEQ")) == st["highestmodseq"]
    found, _ = ok(c, "u", "UID SEARCH ALL")
    got = [int(x) for x in found[-1].split()[2:]]
    assert got == uids, (len(got), len(uids), got[:5], uids[:5])
    # sequence numbers map to the same UIDs
    for seq in (1, len(uids) // 2, len(uids)):
        if seq == 0:
            continue
        f, _ = ok(c, "f%d" % seq, "FETCH %d (UID)" % seq)
        assert f[-1] == b"* %d FETCH (UID %d)" % (seq, uids[seq - 1]), f
    return uids


def _first_unseen(lines):
    v = code_of(b"\n".join(lines), "UNSEEN")
    return int(v) if v is not None else None


def test_select_after_changes(instance):
    c0 = instance.login(U, P)
    ok(c0, "cr", "CREATE big")
    poke(instance, U, "fill", "big", N)

    # first SELECT lists the mailbox (and fills the cache)
    c1, lines, _ = _select(instance, "big")
    uids = _check_view(instance, c1, lines, "big")
    assert _first_unseen(lines) == 1

    # another process: expunge, \Seen on the first ones, new messages
    poke(instance, U, "flags", "big", uids[0], uids[299], "+1")
    poke(instance, U, "expunge", "big", uids[0], uids[99])
    poke(instance, U, "append", "big", 7)
    c2, lines, _ = _select(instance, "big")
    uids2 = _check_view(instance, c2, lines, "big")
    assert len(uids2) == N - 100 + 7
    assert _first_unseen(lines) == 201  # uids[100..299] are \Seen
    f, _ = ok(c2, "ff", "FETCH 1 (FLAGS)")
    assert b"\\Seen" in f[-1], f

    # the older session hears of it at its next command
    lines, _ = ok(c1, "n", "NOOP")
    assert sum(1 for l in lines if l.endswith(b" EXPUNGE")) == 100
    assert exists(lines) == N - 100 + 7, lines[-3:]

    # this worker's own changes: STORE and EXPUNGE through c2
    ok(c2, "st", "STORE 1:5 -FLAGS.SILENT (\\Seen)")
    ok(c2, "sd", "STORE 10:19 +FLAGS.SILENT (\\Deleted)")
    ok(c2, "ex", "EXPUNGE")
    c3, lines, _ = _select(instance, "big")
    _check_view(instance, c3, lines, "big")
    assert _first_unseen(lines) == 1
    # c1 was told at once (same process, next command)
    lines, _ = ok(c1, "n2", "NOOP")
    assert sum(1 for l in lines if l.endswith(b" EXPUNGE")) == 10, lines
    for c in (c1, c2, c3):
        c.close()

    # a mailbox deleted and made again under the same name is another
    # mailbox: no trace of the cached list
    ok(c0, "d", "DELETE big")
    ok(c0, "cr2", "CREATE big")
    poke(instance, U, "append", "big", 3)
    c4, lines, _ = _select(instance, "big")
    assert len(_check_view(instance, c4, lines, "big")) == 3
    c4.close()
    c0.close()


def test_noop_without_changes_is_quiet(instance):
    """Nothing committed: NOOP sends no update; after a commit by another
    process, the very next NOOP carries it."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE quiet")
    poke(instance, U, "append", "quiet", 2)
    ok(c, "s", "SELECT quiet")
    for i in range(3):
        lines, _ = ok(c, "n%d" % i, "NOOP")
        assert lines == [], lines
    poke(instance, U, "flags", "quiet", 1, 1, "+4")  # \Flagged
    lines, _ = ok(c, "n9", "NOOP")
    assert any(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\)\)", l)
               for l in lines), lines
    poke(instance, U, "append", "quiet", 1)
    lines, _ = ok(c, "n10", "NOOP")
    assert exists(lines) == 3, lines
    c.close()


def _idle(c, tag):
    c.send(("%s IDLE\r\n" % tag).encode())
    assert c.readline().startswith(b"+")


def _until(c, pred):
    while True:
        line = c.readline()
        if pred(line):
            return line


def test_idle_sessions_share_one_read(instance):
    """Sessions woken by one commit read its changes once (imap_sync.c's
    pass cache): each still gets exactly its own updates, also when they
    stand at different points of the same mailbox."""
    c0 = instance.login(U, P)
    ok(c0, "c1", "CREATE shared1")
    ok(c0, "c2", "CREATE shared2")
    poke(instance, U, "append", "shared1", 3)
    a, b = instance.login(U, P), instance.login(U, P)
    ok(a, "s", "SELECT shared1")
    poke(instance, U, "append", "shared1", 2)  # b starts 2 messages later
    ok(b, "s", "SELECT shared1")
    other = instance.login(U, P)
    ok(other, "s", "SELECT shared2")
    for c in (a, b, other):
        _idle(c, "i")
    # a first hears of the two it missed (at IDLE or with this wake-up)
    poke(instance, U, "append", "shared1", 1)
    got = [_until(a, lambda l: l.endswith(b" EXISTS"))]
    if got[0] != b"* 6 EXISTS":
        got.append(_until(a, lambda l: l.endswith(b" EXISTS")))
    assert got[-1] == b"* 6 EXISTS" and got[0] in (b"* 5 EXISTS",
                                                    b"* 6 EXISTS"), got
    assert _until(b, lambda l: l.endswith(b" EXISTS")) == b"* 6 EXISTS"
    poke(instance, U, "flags", "shared1", 1, 1, "+4")
    for c in (a, b):
        line = _until(c, lambda l: b" FETCH " in l)
        assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (\\Flagged)"), line
    # the other mailbox's session heard nothing of it
    poke(instance, U, "append", "shared2", 1)
    assert _until(other, lambda l: l.endswith(b" EXISTS")) == b"* 1 EXISTS"
    for c in (a, b, other):
        c.send(b"DONE\r\n")
        lines = c.read_until_tagged("i")
        assert lines[-1].startswith(b"i OK"), lines
        lines, _ = ok(c, "n", "NOOP")
        assert lines == [], lines
        c.close()
    c0.close()


def _fetches(lines):
    return [l for l in lines if b" FETCH " in l]


def test_reported_state_not_repeated(instance):
    """Two sessions share the cached list of one big mailbox (no copy until
    one changes); what a session was told by STORE or FETCH is not told
    again at its next sync, while the other session and any later change
    are (the view's notes of states reported above its sync point)."""
    c0 = instance.login(U, P)
    ok(c0, "cr", "CREATE told")
    poke(instance, U, "fill", "told", N)
    a, _, _ = _select(instance, "told")
    b, _, _ = _select(instance, "told")
    lines, _ = ok(a, "st", "STORE 5 +FLAGS (\\Flagged)")
    assert len(_fetches(lines)) == 1 and b"\\Flagged" in lines[0], lines
    lines, _ = ok(a, "n1", "NOOP")
    assert _fetches(lines) == [], lines
    lines, _ = ok(b, "n1", "NOOP")
    (line,) = _fetches(lines)
    assert line.startswith(b"* 5 FETCH (UID ") and b"\\Flagged" in line
    # another process changes message 7; a FETCH shows it before a's next
    # sync, which then stays quiet about it
    uids, _ = _truth(instance, "told")
    poke(instance, U, "flags", "told", uids[6], uids[6], "+4")
    lines, _ = ok(a, "f", "FETCH 7 (FLAGS)")
    assert len(_fetches(lines)) == 1 and b"\\Flagged" in lines[-1], lines
    lines, _ = ok(a, "n2", "NOOP")
    assert _fetches(lines) == [], lines
    # a later change to the same messages is news again (6 had no flag
    # to lose: unchanged)
    poke(instance, U, "flags", "told", uids[4], uids[6], "-4")
    for c in (a, b):
        lines, _ = ok(c, "n3", "NOOP")
        got = sorted(int(l.split()[1]) for l in _fetches(lines))
        assert got == [5, 7], lines
    # new messages and an expunge through a: a's own copy of the list,
    # and b, the cache and a new session still agree with the store
    poke(instance, U, "append", "told", 3)
    ok(a, "sd", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(a, "ex", "EXPUNGE")
    lines, _ = ok(b, "n4", "NOOP")
    assert sum(1 for l in lines if l.endswith(b" EXPUNGE")) == 1, lines
    assert exists(lines) == N + 2, lines
    c, lines, _ = _select(instance, "told")
    _check_view(instance, c, lines, "told")
    for x in (a, b, c, c0):
        x.close()


def test_fetch_of_message_expunged_elsewhere(instance):
    """Another process expunges a message this session still shows (no
    EXPUNGE may be sent during FETCH): FETCH of it, by ENVELOPE from the
    parse cache or by body, answers NO [EXPUNGEISSUED] and still returns
    the others; the EXPUNGE comes at the next NOOP."""
    c0 = instance.login(U, P)
    ok(c0, "cr", "CREATE gone")
    poke(instance, U, "append", "gone", 3)
    c = instance.login(U, P)
    ok(c, "s", "SELECT gone")
    ok(c, "warm", "FETCH 1:3 (ENVELOPE)")  # the parse cache is filled
    uids, _ = _truth(instance, "gone")
    poke(instance, U, "expunge", "gone", uids[1], uids[1])
    for item in ("ENVELOPE", "BODY.PEEK[]", "(FLAGS BODYSTRUCTURE)"):
        c.send(("f FETCH 1:3 %s\r\n" % item).encode())
        lines = c.read_until_tagged("f")
        assert lines[-1].startswith(b"f NO [EXPUNGEISSUED]"), lines
        got = [int(l.split()[1]) for l in lines if b" FETCH " in l]
        assert got == [1, 3], lines
    lines, _ = ok(c, "n", "NOOP")
    assert lines == [b"* 2 EXPUNGE"], lines
    c.close()
    c0.close()
