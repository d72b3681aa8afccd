"""Several sessions of one user, and a separate process changing the store
(tests/tools/store-poke, standing in for delivery): untagged EXISTS,
EXPUNGE, VANISHED and FETCH FLAGS reach every session at the points RFC
9051 5.2 / 7.5.2 allow, with consistent sequence numbers; IDLE (RFC 2177)
wakes on changes from any process."""

import re
import time

from imapa import (append, exists, expunges, fetch_flags, message, ok, poke,
                   read_untagged, users_fixture)

U, P = "sessions@example.org", "sessions-pw-1"


users = users_fixture((U, P))


def seq_uids(c, tag="su"):
    lines, _ = ok(c, tag, "FETCH 1:* UID")
    out = {}
    for l in lines:
        m = re.match(rb"\* (\d+) FETCH \(UID (\d+)\)", l)
        if m:
            out[int(m.group(1))] = int(m.group(2))
    return out


def test_two_sessions(instance):
    a = instance.login(U, P)
    b = instance.login(U, P)
    ok(a, "cr", "CREATE two")
    for i in range(1, 6):
        append(a, "two", message(i))
    ok(a, "s", "SELECT two")
    ok(b, "s", "SELECT two")
    # b flags and expunges; a sees FETCH FLAGS and EXPUNGE at NOOP
    ok(b, "st", "STORE 2 +FLAGS (\\Seen)")
    ok(b, "st2", "STORE 4 +FLAGS (\\Deleted)")
    ok(b, "ex", "EXPUNGE")
    lines, _ = ok(a, "n", "NOOP")
    assert expunges(lines) == [4], lines
    f = fetch_flags(lines)
    assert f[2][0] == 2 and f[2][1] == b"\\Seen", lines
    assert not any(b"\\Deleted" in l for l in lines if b"FETCH" in l) or \
        True  # a may or may not see the \Deleted flag before the expunge
    # numbering agrees in both sessions
    assert seq_uids(a) == seq_uids(b) == {1: 1, 2: 2, 3: 3, 4: 5}
    # a new message from b's APPEND: EXISTS in a
    append(b, "two", message(9))
    lines, _ = ok(a, "n2", "NOOP")
    assert lines == [b"* 5 EXISTS"], lines
    a.close()
    b.close()


def test_no_expunge_during_fetch_store_search(instance):
    """RFC 9051 7.5.2: no EXPUNGE while responding to FETCH, STORE or SEARCH;
    the expunged message keeps its number until a later command."""
    a = instance.login(U, P)
    b = instance.login(U, P)
    ok(a, "cr", "CREATE hold")
    for i in range(1, 5):
        append(a, "hold", message(i))
    ok(a, "s", "SELECT hold")
    ok(b, "s", "SELECT hold")
    ok(b, "st", "STORE 2 +FLAGS.SILENT (\\Deleted)")
    ok(b, "ex", "EXPUNGE")
    append(b, "hold", message(5))
    lines, _ = ok(a, "f", "FETCH 4 UID")
    assert expunges(lines) == [], lines
    assert exists(lines) == 5, lines  # EXISTS may come, counting message 2
    assert b"* 4 FETCH (UID 4)" in lines, lines
    lines, _ = ok(a, "se", "SEARCH ALL")
    assert expunges(lines) == []
    lines, _ = ok(a, "sto", "STORE 1 +FLAGS (\\Flagged)")
    assert expunges(lines) == []
    # UID FETCH may announce it (RFC 9051 7.5.2 note)
    lines, _ = ok(a, "uf", "UID FETCH 1 UID")
    assert expunges(lines) == [2], lines
    assert seq_uids(a) == {1: 1, 2: 3, 3: 4, 4: 5}
    a.close()
    b.close()


def test_other_process_noop(instance):
    """Changes committed by another process (store-poke) appear at NOOP."""
    a = instance.login(U, P)
    ok(a, "cr", "CREATE poked")
    ok(a, "s", "SELECT poked")
    poke(instance, U, "append", "poked", 3)
    lines, _ = ok(a, "n", "NOOP")
    assert lines == [b"* 3 EXISTS"], lines
    poke(instance, U, "flags", "poked", 2, 2, "+4")
    poke(instance, U, "expunge", "poked", 1, 1)
    lines, _ = ok(a, "n2", "NOOP")
    assert expunges(lines) == [1], lines
    f = fetch_flags(lines)
    assert f == {1: (2, b"\\Flagged", None)}, lines
    a.close()


def idle(c, tag="i"):
    c.send(("%s IDLE\r\n" % tag).encode())
    line = c.readline()
    assert line.startswith(b"+"), line


def done(c, tag="i"):
    c.send(b"DONE\r\n")
    lines = c.read_until_tagged(tag)
    assert lines[-1].startswith(tag.encode() + b" OK"), lines
    return lines[:-1]


def test_idle_wakes_on_other_process(instance):
    """A commit by another process reaches an idling session promptly (the
    store's notify fd), with EXISTS, EXPUNGE and FETCH."""
    a = instance.login(U, P)
    ok(a, "cr", "CREATE idlebox")
    ok(a, "s", "SELECT idlebox")
    idle(a)
    t0 = time.monotonic()
    poke(instance, U, "append", "idlebox", 2)
    got = read_untagged(a, lambda l: l == b"* 2 EXISTS", timeout=5)
    print("\nIDLE woke %.3fs after store-poke started" %
          (time.monotonic() - t0))
    poke(instance, U, "flags", "idlebox", 1, 1, "+1")
    got = read_untagged(a, lambda l: b"FETCH" in l, timeout=5)
    assert b"\\Seen" in got[-1], got
    poke(instance, U, "expunge", "idlebox", 2, 2)
    got = read_untagged(a, lambda l: l == b"* 2 EXPUNGE", timeout=5)
    assert done(a) == []
    # another session's change wakes IDLE the same way
    b = instance.login(U, P)
    idle(a, "j")
    append(b, "idlebox", message(7))
    read_untagged(a, lambda l: l == b"* 2 EXISTS", timeout=5)
    done(a, "j")
    # pending changes are sent when IDLE starts
    poke(instance, U, "append", "idlebox", 1)
    idle(a, "k")
    read_untagged(a, lambda l: l == b"* 3 EXISTS", timeout=5)
    done(a, "k")
    a.close()
    b.close()


def test_idle_qresync_vanished(instance):
    a = instance.login(U, P)
    ok(a, "e", "ENABLE QRESYNC")
    ok(a, "cr", "CREATE vbox")
    poke(instance, U, "append", "vbox", 5)
    ok(a, "s", "SELECT vbox")
    idle(a)
    poke(instance, U, "expunge", "vbox", 2, 4)
    read_untagged(a, lambda l: l == b"* VANISHED 2:4", timeout=5)
    poke(instance, U, "flags", "vbox", 5, 5, "+4")
    got = read_untagged(a, lambda l: b"FETCH" in l, timeout=5)
    # CONDSTORE is on with QRESYNC: MODSEQ and UID in the FETCH
    assert re.match(rb"\* 2 FETCH \(UID 5 FLAGS \(\\Flagged\) MODSEQ "
                    rb"\(\d+\)\)$", got[-1]), got
    done(a)
    a.close()
