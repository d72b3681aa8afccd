"""Literal limits (the CVE-2024-34055 class): per command at most
imap_literal_max_count literals, imap_literal_max_total bytes of them and
imap_literal_max_size each (APPEND messages excluded), much less before
login (login_literal_max_*). Each limit is accepted at exactly its value
and refused one over: a synchronizing literal with BAD [TOOBIG] and no "+"
(the connection goes on), a LITERAL+ one with * BYE [ALERT], BAD [TOOBIG]
and a close. The defaults are the documented ones (none is overridden
here), and refused attempts do not grow the worker."""

import os

import pytest

import helpers
from imapa import ok, rss_kb, users_fixture, worker_pid

U, P = "literals@example.org", "literals-pw-1"
SIZE, COUNT, TOTAL = 102400, 1000, 1048576
L_SIZE, L_COUNT, L_TOTAL = 8192, 4, 16384



@pytest.fixture(scope="module", autouse=True)
def _asan_quarantine_off():
    """Under ASan freed memory sits in a 256 MB quarantine, which would
    make any RSS figure meaningless: this module's instance runs without
    it (autouse fixtures of a scope run in name order, so before users)."""
    old = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (old + ":" if old else "") + \
        "quarantine_size_mb=0"
    yield
    if old is None:
        del os.environ["ASAN_OPTIONS"]
    else:
        os.environ["ASAN_OPTIONS"] = old


users = users_fixture((U, P))


def test_defaults_are_documented(instance):
    s = instance.settings
    assert int(s["imap_literal_max_size"]) == SIZE
    assert int(s["imap_literal_max_count"]) == COUNT
    assert int(s["imap_literal_max_total"]) == TOTAL
    assert int(s["login_literal_max_size"]) == L_SIZE
    assert int(s["login_literal_max_count"]) == L_COUNT
    assert int(s["login_literal_max_total"]) == L_TOTAL


def session(instance):
    c = instance.login(U, P)
    ok(c, "s", "SELECT INBOX")
    return c


def search(lits, last_sync=False):
    """SEARCH with one SUBJECT key per literal (with 1000 or more, the
    first literal is the CHARSET instead: SEARCH takes at most 1000 keys);
    all LITERAL+ except maybe the last, which is then announced but not
    sent."""
    out = b"t SEARCH"
    if len(lits) >= COUNT:
        out += b" CHARSET {5+}\r\nUTF-8"
        lits = lits[1:]
    for i, d in enumerate(lits):
        if last_sync and i == len(lits) - 1:
            return out + b" SUBJECT {%d}\r\n" % len(d)
        out += b" SUBJECT {%d+}\r\n" % len(d) + d
    return out + b"\r\n"


def accepted(c, lits):
    c.send(search(lits))
    t = c.read_until_tagged("t")[-1]
    assert t.startswith(b"t OK"), t


def refused_sync(c, lits):
    """The last literal is synchronizing and over a limit: no "+"."""
    c.send(search(lits, last_sync=True))
    line = c.readline()
    assert line.startswith(b"t BAD [TOOBIG]"), line
    ok(c, "n", "NOOP")  # the connection is usable


def refused_nonsync(c, lits):
    c.send(search(lits))
    lines = c.read_eof()
    assert lines and lines[0].startswith(b"* BYE [ALERT]"), lines
    assert any(l.startswith(b"t BAD [TOOBIG]") for l in lines), lines


def test_size_limit(instance):
    c = session(instance)
    accepted(c, [b"a" * SIZE])
    refused_sync(c, [b"a" * (SIZE + 1)])
    c.close()
    refused_nonsync(session(instance), [b"a" * (SIZE + 1)])


def test_total_limit(instance):
    exact = [b"b" * SIZE] * 10 + [b"b" * (TOTAL - 10 * SIZE)]
    over = [b"b" * SIZE] * 10 + [b"b" * (TOTAL - 10 * SIZE + 1)]
    assert sum(map(len, exact)) == TOTAL
    c = session(instance)
    accepted(c, exact)
    refused_sync(c, over)
    c.close()
    refused_nonsync(session(instance), over)


def test_count_limit(instance):
    c = session(instance)
    accepted(c, [b"c"] * COUNT)
    refused_sync(c, [b"c"] * (COUNT + 1))
    c.close()
    refused_nonsync(session(instance), [b"c"] * (COUNT + 1))


def test_append_messages_are_not_counted(instance):
    """A MULTIAPPEND of more, larger literals than any budget allows: its
    messages go to disk, not into the command."""
    c = session(instance)
    m = b"Subject: big\r\n\r\n" + b"z" * (SIZE + 100)
    c.send(b"a APPEND INBOX" + b"".join(b" {%d+}\r\n%s" % (len(m), m)
                                          for _ in range(12)) + b"\r\n")
    t = c.read_until_tagged("a")[-1]
    assert t.startswith(b"a OK [APPENDUID"), t
    c.close()


def test_worker_memory_stays_flat(instance):
    """100 refused commands (count and total limits, synchronizing so the
    connection stays) leave the worker's RSS where it was."""
    c = session(instance)
    pid = worker_pid(instance, U)
    over_total = [b"d" * SIZE] * 10 + [b"d" * (TOTAL - 10 * SIZE + 1)]
    over_count = [b"d"] * (COUNT + 1)
    for i in range(5):  # warm up: allocator caches, first-use buffers
        refused_sync(c, over_total if i % 2 else over_count)
    rss0, _ = rss_kb(pid)
    for i in range(100):
        refused_sync(c, over_total if i % 2 else over_count)
    rss1, _ = rss_kb(pid)
    print("\nworker RSS over 100 refused commands: %d kB -> %d kB"
          % (rss0, rss1))
    assert rss1 - rss0 < 2048, (rss0, rss1)
    c.close()


def test_command_line_limit(instance):
    """imap_max_line bounds a command's text: BAD, nothing stored, the
    session goes on."""
    c = session(instance)
    n = int(instance.settings["imap_max_line"])
    c.send(b"t SEARCH SUBJECT " + b"x" * (n + 10) + b"\r\n")
    t = c.read_until_tagged("t")[-1]
    assert t.startswith(b"t BAD"), t
    ok(c, "n", "NOOP")
    c.close()


# ---- before authentication (imap-login) ----

def preauth(instance, lits, last_sync=False):
    """An unknown command with the literals: BAD Unknown command means
    they were accepted."""
    c = instance.imaps()
    out = b"p XFOO"
    for i, d in enumerate(lits):
        if last_sync and i == len(lits) - 1:
            c.send(out + b" {%d}\r\n" % len(d))
            return c
        out += b" {%d+}\r\n" % len(d) + d
    c.send(out + b"\r\n")
    return c


def test_preauth_limits(instance):
    for lits in ([b"e" * L_SIZE], [b"e"] * L_COUNT,
                 [b"e" * L_SIZE, b"e" * (L_TOTAL - L_SIZE)]):
        c = preauth(instance, lits)
        t = c.read_until_tagged("p")[-1]
        assert t.startswith(b"p BAD Unknown command"), (len(lits), t)
        c.close()
    overs = ([b"e" * (L_SIZE + 1)], [b"e"] * (L_COUNT + 1),
             [b"e" * L_SIZE, b"e" * (L_TOTAL - L_SIZE), b"e"])
    for lits in overs:
        c = preauth(instance, lits, last_sync=True)
        line = c.readline()
        assert line.startswith(b"p BAD [TOOBIG]"), line
        _, t = c.command("n", "NOOP")
        assert t.startswith(b"n OK"), t
        c.close()
        c = preauth(instance, lits)
        try:
            lines = c.read_eof()
        except helpers.ConnectionClosed:
            lines = []
        assert lines and lines[0].startswith(b"* BYE [ALERT]"), lines
        assert any(l.startswith(b"p BAD [TOOBIG]") for l in lines), lines
        c.close()
