"""QUOTA (RFC 9208) with the limits an admin sets with mailadm: GETQUOTA,
GETQUOTAROOT, SETQUOTA (refused), STATUS DELETED / SIZE / DELETED-STORAGE;
APPEND, COPY and MOVE at and past the limits; counters exact after
expunges and under concurrent sessions; limit changes reach live
sessions."""

import re
import threading

import helpers
from imapa import message, no, ok, poke, users_fixture

A, AP = "quota-a@example.org", "quota-a-pw"
B, BP = "quota-b@example.org", "quota-b-pw"
C, CP = "quota-c@example.org", "quota-c-pw"
D, DP = "quota-d@example.org", "quota-d-pw"

users = users_fixture((A, AP), (B, BP), (C, CP), (D, DP))


def set_quota(instance, user, *args):
    r = instance.mailadm("user", "quota", user, *args)
    assert r.returncode == 0, r.stderr


def getquota(c, tag="gq"):
    """(storage used, storage limit, messages used, messages limit) from
    GETQUOTA "", None for a resource without a limit."""
    lines, t = c.command(tag, 'GETQUOTA ""')
    assert t.startswith(tag.encode() + b" OK"), (lines, t)
    (line,) = [l for l in lines if l.startswith(b"* QUOTA ")]
    st = re.search(rb"STORAGE (\d+) (\d+)", line)
    ms = re.search(rb"MESSAGE (\d+) (\d+)", line)
    return (tuple(int(x) for x in st.groups()) if st else (None, None)) + \
        (tuple(int(x) for x in ms.groups()) if ms else (None, None))


def wait_limits(c, storage_kib, messages):
    def got():
        lines, t = c.command("w", 'GETQUOTA ""')
        if not t.startswith(b"w OK"):
            return False
        q = getquota(c)
        return q[1] == storage_kib and q[3] == messages
    helpers.wait_for(got, timeout=10, what="limits pushed to the session")


def append_raw(c, tag, data, box="INBOX"):
    c.send(b"%s APPEND %s {%d+}\r\n%s\r\n" % (tag.encode(), box.encode(),
                                             len(data), data))
    return c.read_until_tagged(tag)[-1]


def counters(instance, user):
    m, b = poke(instance, user, "quota", "INBOX").split()
    return int(m), int(b)


def test_capabilities_and_no_limit(instance):
    c = instance.login(A, AP)
    lines, _ = ok(c, "c", "CAPABILITY")
    caps = helpers.caps_of(lines)
    for cap in ("QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"):
        assert cap in caps, caps
    assert "QUOTASET" not in caps
    # no limit: no quota root (RFC 9208 has no "unlimited" value)
    lines, _ = ok(c, "r", "GETQUOTAROOT INBOX")
    assert lines == [b'* QUOTAROOT "INBOX"'] or lines == [b"* QUOTAROOT INBOX"], \
        lines
    no(c, "g", 'GETQUOTA ""', "NONEXISTENT")
    no(c, "g2", "GETQUOTA user.other", "NONEXISTENT")
    no(c, "s", 'SETQUOTA "" (STORAGE 100)', "NOPERM")
    no(c, "r2", "GETQUOTAROOT nosuch", "NONEXISTENT")
    c.close()


def test_limits_reach_live_sessions(instance):
    c = instance.login(A, AP)
    ok(c, "a", "APPEND INBOX {2000+}\r\n" + "x" * 2000)
    set_quota(instance, A, "--storage", "1M", "--messages", "10")
    wait_limits(c, 1024, 10)
    assert getquota(c) == (2, 1024, 1, 10)  # 2000 bytes: 2 KiB rounded up
    lines, _ = ok(c, "r", "GETQUOTAROOT INBOX")
    assert re.match(rb'\* QUOTAROOT "?INBOX"? ""$', lines[0]), lines
    assert lines[1] == b'* QUOTA "" (STORAGE 2 1024 MESSAGE 1 10)', lines
    # a new session gets them from the login (ticket redemption)
    c2 = instance.login(A, AP)
    assert getquota(c2) == (2, 1024, 1, 10)
    # only one resource limited: only that one is reported
    set_quota(instance, A, "--storage", "none")
    wait_limits(c, None, 10)
    lines, _ = ok(c2, "g", 'GETQUOTA ""')
    assert lines == [b'* QUOTA "" (MESSAGE 1 10)'], lines
    set_quota(instance, A, "none")
    helpers.wait_for(lambda: c.command("g", 'GETQUOTA ""')[1].startswith(
        b"g NO"), timeout=10, what="limits removed")
    c.close()
    c2.close()


def test_append_copy_move_expunge(instance):
    """Exactly at the limit is accepted, one past it refused; MOVE never
    grows usage; EXPUNGE gives it back; counters stay exact."""
    c = instance.login(B, BP)
    set_quota(instance, B, "--messages", "4", "--storage", "10K")
    wait_limits(c, 10, 4)
    ok(c, "cr", "CREATE other")
    m = b"Subject: q\r\n\r\n" + b"y" * (2560 - 15) + b"\r"
    assert len(m) == 2560
    for i in range(4):
        assert append_raw(c, "a%d" % i, m).startswith(b"a%d OK" % i)
    assert counters(instance, B) == (4, 10240)
    assert getquota(c) == (10, 10, 4, 4)
    t = append_raw(c, "a4", b"x")
    assert t.startswith(b"a4 NO [OVERQUOTA]"), t
    ok(c, "s", "SELECT INBOX")
    no(c, "cp", "COPY 1 other", "OVERQUOTA")
    no(c, "ucp", "UID COPY 1:* other", "OVERQUOTA")
    ok(c, "mv", "MOVE 1 other")  # at the limit: MOVE still works
    assert counters(instance, B) == (4, 10240)
    # the byte limit alone: one message fewer but a byte too many
    ok(c, "st", "STORE 1 +FLAGS.SILENT (\\Deleted)")
    lines, _ = ok(c, "stat", "STATUS INBOX (MESSAGES DELETED SIZE "
                  "DELETED-STORAGE)")
    assert lines[-1].endswith(b"(MESSAGES 3 DELETED 1 SIZE 7680 "
                              b"DELETED-STORAGE 3)"), lines
    ok(c, "ex", "EXPUNGE")
    assert counters(instance, B) == (3, 7680)
    t = append_raw(c, "a5", m + b"z")
    assert t.startswith(b"a5 NO [OVERQUOTA]"), t
    t = append_raw(c, "a6", m)
    assert t.startswith(b"a6 OK"), t
    assert counters(instance, B) == (4, 10240)
    # lowering the limit below usage: nothing is lost, nothing new fits,
    # and expunging still works
    set_quota(instance, B, "--messages", "2")
    wait_limits(c, 10, 2)
    assert append_raw(c, "a7", b"x").startswith(b"a7 NO [OVERQUOTA]")
    ok(c, "s2", "SELECT other")
    ok(c, "st2", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
    ok(c, "ex2", "EXPUNGE")
    assert counters(instance, B) == (3, 7680)
    ok(c, "del", "DELETE other")
    assert counters(instance, B)[0] == 3
    set_quota(instance, B, "none")
    assert "consistent" in poke(instance, B, "check", "INBOX")
    c.close()


def test_concurrent_sessions_never_overshoot(instance):
    """Four sessions pipeline appends at once against a 25-message limit:
    exactly 25 succeed, whatever the interleaving."""
    c0 = instance.login(C, CP)
    set_quota(instance, C, "--messages", "25")
    wait_limits(c0, None, 25)
    conns = [instance.login(C, CP) for _ in range(4)]
    for c in conns:
        assert getquota(c)[3] == 25
    results = [[] for _ in conns]

    def run(i):
        c = conns[i]
        blob = b"".join(b"c%d_%d APPEND INBOX {%d+}\r\n%s\r\n"
                        % (i, k, len(message(k)), message(k))
                        for k in range(12))
        c.send(blob)
        for k in range(12):
            results[i].append(c.read_until_tagged("c%d_%d" % (i, k))[-1])

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(len(conns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    oks = sum(1 for r in results for t in r if b" OK " in t)
    over = sum(1 for r in results for t in r if b" NO [OVERQUOTA]" in t)
    assert oks == 25 and over == 4 * 12 - 25, results
    assert counters(instance, C)[0] == 25
    assert getquota(c0)[2] == 25
    for c in conns + [c0]:
        c.close()
    set_quota(instance, C, "none")
    assert "consistent" in poke(instance, C, "check", "INBOX")


def test_trace_level_reaches_the_worker(instance):
    """mailadm user trace takes effect in a running worker (its log)."""
    c = instance.login(D, DP)
    ok(c, "n", "NOOP")
    r = instance.mailadm("user", "trace", D, "tracedata")
    assert r.returncode == 0, r.stderr
    helpers.wait_for(lambda: "trace=tracedata" in instance.log,
                     timeout=10, what="trace level in the worker")
    r = instance.mailadm("user", "show", D)
    assert "trace: tracedata" in r.stdout, r.stdout
    r = instance.mailadm("user", "trace", D, "none")
    assert r.returncode == 0
    c.close()
