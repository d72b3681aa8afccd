"""MULTIAPPEND (RFC 3502): one APPEND with many messages is one storage
transaction -- all or none across an error in message N, a disconnect and
kill -9 of the worker; over-quota, TRYCREATE and TOOBIG are decided from the
announced literal sizes before any data is read; literal8, UTF8 (...),
flags, keywords and dates per message. Raw sockets: the exact bytes of
every continuation matter."""

import os
import re
import signal
import time

import helpers
from imapa import (bad, code_of, home_of, message, no, ok, poke,
                   users_fixture, worker_pid)

U, P = "multi@example.org", "multi-pw-1"
Q, QP = "multiq@example.org", "multiq-pw-1"
K, KP = "multik@example.org", "multik-pw-1"
LIMIT = 1024 * 1024
POSTERN_CONF = {"imap_max_literal": str(LIMIT)}

users = users_fixture((U, P), (Q, QP), (K, KP))


def status(c, box="INBOX", tag="st"):
    lines, _ = ok(c, tag, "STATUS %s (MESSAGES UIDNEXT SIZE)" % box)
    m = re.search(rb"MESSAGES (\d+) UIDNEXT (\d+) SIZE (\d+)", lines[0])
    return tuple(int(x) for x in m.groups())


def tmp_files(instance, user):
    d = os.path.join(home_of(instance, user), "tmp")
    return sorted(os.listdir(d))


def quota(instance, user):
    m, b = poke(instance, user, "quota", "INBOX").split()
    return int(m), int(b)


def lit(data, sync=False, eight=False):
    return b"%s{%d%s}\r\n" % (b"~" if eight else b"", len(data),
                              b"" if sync else b"+")


def test_capability(instance):
    c = instance.login(U, P)
    lines, _ = ok(c, "c", "CAPABILITY")
    assert b" MULTIAPPEND" in lines[0], lines
    c.close()


def test_multiappend_all_forms(instance):
    """Sync and LITERAL+ literals, literal8, UTF8 (~{n}), flags, keywords
    and dates per message; APPENDUID names the consecutive range."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE multi1")
    ok(c, "en", "ENABLE UTF8=ACCEPT")
    m1, m2, m3, m4 = (message(i, subject=b"multi %d" % i) for i in range(4))
    m4 = m4.replace(b"Body", b"B\xc3\xb6dy")
    c.send(b"a1 APPEND multi1 (\\Seen $Work) \" 7-Feb-1994 21:52:25 -0800\" "
           + lit(m1, sync=True))
    assert c.readline().startswith(b"+ ")
    c.send(m1 + b" (\\Flagged) " + lit(m2))
    c.send(m2 + b" \"01-Jan-2020 10:00:00 +0100\" " + lit(m3, eight=True,
                                                        sync=True))
    assert c.readline().startswith(b"+ ")
    c.send(m3 + b" (\\Draft) UTF8 (" + lit(m4, eight=True) + m4 + b")\r\n")
    lines = c.read_until_tagged("a1")
    assert lines[-1].startswith(b"a1 OK [APPENDUID "), lines
    uv, rng = code_of(lines[-1], "APPENDUID").split()
    first, last = (int(x) for x in rng.split(":"))
    assert last == first + 3
    ok(c, "s", "SELECT multi1")
    lines, _ = ok(c, "f", "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)")
    assert len(lines) == 4, lines
    assert b"\\Seen" in lines[0] and b"$Work" in lines[0]
    assert b'"07-Feb-1994 21:52:25 -0800"' in lines[0] or \
        b'" 7-Feb-1994 21:52:25 -0800"' in lines[0], lines[0]
    assert b"\\Flagged" in lines[1] and b"\\Seen" not in lines[1]
    assert b'"01-Jan-2020 10:00:00 +0100"' in lines[2], lines[2]
    assert b"\\Draft" in lines[3]
    for i, m in enumerate((m1, m2, m3, m4)):
        assert b"RFC822.SIZE %d" % len(m) in lines[i], (i, lines[i])
        _, t = ok(c, "b%d" % i, "UID FETCH %d BODY.PEEK[]" % (first + i))
    lines, _ = ok(c, "b", "UID FETCH %d BODY.PEEK[]" % last)
    assert m4 in lines[0]
    c.close()


def test_one_message_keeps_single_appenduid(instance):
    c = instance.login(U, P)
    c.send(b"a APPEND INBOX " + lit(b"x: y\r\n\r\nz") + b"x: y\r\n\r\nz\r\n")
    t = c.read_until_tagged("a")[-1]
    assert re.match(rb"a OK \[APPENDUID \d+ \d+\] ", t), t
    c.close()


def _nothing_added(instance, c, before, box="INBOX"):
    assert status(c, box) == before
    helpers.wait_for(lambda: tmp_files(instance, U) == [], timeout=10,
                     what="no file left in tmp/")


def test_error_in_message_n_cancels_all(instance):
    c = instance.login(U, P)
    before = status(c)
    m = message(7)
    # a bad flag in message 3, after two messages were written to disk
    c.send(b"b1 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m +
           b" (\\Bogus) " + lit(m) + m + b"\r\n")
    assert c.read_until_tagged("b1")[-1].startswith(b"b1 BAD")
    _nothing_added(instance, c, before)
    # a bad date in message 2, its literal synchronizing: no "+" for it
    c.send(b"b2 APPEND INBOX " + lit(m) + m +
           b' "31-Feb-2020 00:00:00 +0000" ' + lit(m, sync=True))
    assert c.readline().startswith(b"b2 BAD")
    _nothing_added(instance, c, before)
    # a zero-length literal cancels the whole command (RFC 3502)
    c.send(b"b3 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m + b" {0}\r\n")
    assert c.readline().startswith(b"b3 NO "), "sync {0} answered NO"
    c.send(b"b4 APPEND INBOX " + lit(m) + m + b" {0+}\r\n\r\n")
    assert c.read_until_tagged("b4")[-1].startswith(b"b4 NO ")
    _nothing_added(instance, c, before)
    # garbage after the last message
    c.send(b"b5 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m + b" junk\r\n")
    assert c.read_until_tagged("b5")[-1].startswith(b"b5 BAD")
    # an argument where a message belongs: UTF8 with a plain literal
    c.send(b"b6 APPEND INBOX " + lit(m) + m + b" UTF8 (" + lit(m) + m +
           b")\r\n")
    assert c.read_until_tagged("b6")[-1].startswith(b"b6 BAD")
    # two literals in one UTF8 list
    c.send(b"b7 APPEND INBOX UTF8 (" + lit(m, eight=True) + m + b" " +
           lit(m, eight=True) + m + b")\r\n")
    assert c.read_until_tagged("b7")[-1].startswith(b"b7 BAD")
    _nothing_added(instance, c, before)
    ok(c, "n", "NOOP")  # the session is fine
    c.close()


def test_trycreate_and_toobig_before_data(instance):
    c = instance.login(U, P)
    m = message(1)
    # missing mailbox: NO [TRYCREATE] instead of "+"
    c.send(b"t1 APPEND nosuch " + lit(m, sync=True))
    assert c.readline().startswith(b"t1 NO [TRYCREATE]")
    # a message over APPENDLIMIT as message 2: refused before its data
    before = status(c)
    c.send(b"t2 APPEND INBOX " + lit(m) + m + b" {%d}\r\n" % (LIMIT + 1))
    assert c.readline().startswith(b"t2 NO [TOOBIG]")
    _nothing_added(instance, c, before)
    ok(c, "n", "NOOP")
    c.close()


def test_disconnect_mid_command(instance):
    c = instance.login(U, P)
    before = status(c)
    m = message(3, size=50000)
    c.send(b"d1 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m + b" " +
           lit(m) + m[:20000])
    time.sleep(0.2)  # let the worker write what it got
    c.close()
    c = instance.login(U, P)
    _nothing_added(instance, c, before)
    c.close()


def _set_quota(instance, user, *args):
    r = instance.mailadm("user", "quota", user, *args)
    assert r.returncode == 0, r.stderr


def _wait_quota(c, want, tag="gq"):
    """Polls GETQUOTA until the worker has the pushed limits."""
    def got():
        lines, t = c.command(tag, 'GETQUOTA ""')
        return want in b"".join(lines)
    helpers.wait_for(got, timeout=10, what="quota %r pushed" % want)


def test_overquota_from_announced_sizes(instance):
    """The limit is checked against the announced sizes of all messages so
    far: a synchronizing literal gets NO [OVERQUOTA] instead of "+", a
    LITERAL+ one is read and thrown away, then NO [OVERQUOTA]."""
    c = instance.login(Q, QP)
    _set_quota(instance, Q, "--messages", "5", "--storage", "100K")
    _wait_quota(c, b"MESSAGE 0 5")
    m = message(1, size=30000)
    assert len(m) < 34000
    before = status(c)
    # 3 x 30 KB fit, the 4th does not: refused at its announcement
    c.send(b"q1 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m + b" " +
           lit(m) + m + b" " + lit(m, sync=True))
    line = c.readline()
    assert line.startswith(b"q1 NO [OVERQUOTA]"), line
    assert status(c) == before
    # LITERAL+: every byte is sent and read, the NO comes after the end
    c.send(b"q2 APPEND INBOX " + lit(m) + m + b" " + lit(m) + m + b" " +
           lit(m) + m + b" " + lit(m) + m + b" " + lit(m) + m + b"\r\n")
    lines = c.read_until_tagged("q2")
    assert lines == [lines[-1]] and lines[-1].startswith(b"q2 NO [OVERQUOTA]")
    assert status(c) == before
    # the message count: 6 tiny messages do not fit 5
    t = b"a: b\r\n\r\nc"
    c.send(b"q3 APPEND INBOX " + (lit(t) + t + b" ") * 5 + lit(t, sync=True))
    assert c.readline().startswith(b"q3 NO [OVERQUOTA]")
    # exactly at the limit is accepted
    c.send(b"q4 APPEND INBOX " + b" ".join([lit(t) + t] * 5) + b"\r\n")
    assert c.read_until_tagged("q4")[-1].startswith(b"q4 OK [APPENDUID")
    assert quota(instance, Q)[0] == 5
    c.send(b"q5 APPEND INBOX " + lit(t, sync=True))
    assert c.readline().startswith(b"q5 NO [OVERQUOTA]")
    ok(c, "n", "NOOP")
    _set_quota(instance, Q, "none")
    c.close()


def _kill_during(instance, user, pw, payload_parts):
    """Sends the parts of one MULTIAPPEND, kills the worker with SIGKILL
    after the last part, and returns the store state seen afterwards."""
    c = instance.login(user, pw)
    pid = worker_pid(instance, user)
    for part in payload_parts:
        c.send(part)
    # the worker has read what was sent once it answers nothing more:
    # wait until its tmp/ holds the files of the messages sent so far
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    helpers.wait_for(lambda: not helpers.pid_alive(pid), timeout=10,
                     what="worker killed")
    c.close()


def test_kill9_during_multiappend(instance):
    """kill -9 of the worker at several points of one MULTIAPPEND: nothing
    of it is visible afterwards and the quota counters are unchanged."""
    c = instance.login(K, KP)
    ok(c, "a", "APPEND INBOX {9+}\r\na: b\r\n\r\nc")
    before = status(c)
    c.close()
    q_before = quota(instance, K)
    m = message(5, size=200000)
    head = b"k APPEND INBOX (\\Seen) "
    points = [
        [head + lit(m) + m[:1000]],                       # mid message 1
        [head + lit(m) + m + b" " + lit(m) + m[:150000]],  # mid message 2
        [head + lit(m) + m + b" " + lit(m) + m],          # before the CRLF
        [head + lit(m) + m + b" " + lit(m, sync=True)],    # awaiting "+"
    ]
    for parts in points:
        _kill_during(instance, K, KP, parts)
        c = instance.login(K, KP)
        assert status(c) == before
        c.close()
        assert quota(instance, K) == q_before
    # the files of the killed saves are collected once past the store's
    # grace period; then files, records and counters agree exactly
    time.sleep(11)
    assert "consistent" in poke(instance, K, "check", "INBOX")
    assert quota(instance, K) == q_before


def test_many_messages_one_transaction(instance):
    """1000 messages in one command (each holds an open file until the
    commit: more than the worker's descriptor limit would allow without
    room for them)."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE bulk")
    n = 1000
    msgs = [message(i, subject=b"bulk %d" % i) for i in range(n)]
    c.send(b"m APPEND bulk " + b" ".join(lit(x) + x for x in msgs) + b"\r\n")
    t = c.read_until_tagged("m")[-1]
    assert t.startswith(b"m OK [APPENDUID"), t
    first, last = (int(x) for x in
                   code_of(t, "APPENDUID").split()[1].split(":"))
    assert last - first + 1 == n
    assert status(c, "bulk")[0] == n
    ok(c, "s", "EXAMINE bulk")
    lines, _ = ok(c, "f", "UID FETCH %d BODY.PEEK[HEADER.FIELDS (SUBJECT)]"
                  % (first + 123))
    assert b"bulk 123" in lines[0]
    c.close()
