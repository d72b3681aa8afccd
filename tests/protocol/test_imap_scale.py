"""Scale: a 100,000-message mailbox (built with store-poke: 500 distinct
messages, then COPY doubling, so files are shared) is SELECTed, FETCHed by
range, SEARCHed, SORTed and THREADed; another process changes all of it and an idling session
gets every update without its output buffer overflowing. The worker's RSS
(from /proc) is printed and must stay bounded."""

import re
import time

from imapa import (code_of, exists, expunges, ok, poke, rss_kb, users_fixture,
                   worker_pid)

U, P = "scale@example.org", "scale-pw-1"
N = 100000


users = users_fixture((U, P))


def timed(c, tag, text):
    t0 = time.monotonic()
    c.send(("%s %s\r\n" % (tag, text)).encode())
    n = 0
    last = None
    while True:
        line = c.readline()
        if line.startswith(tag.encode() + b" "):
            assert line.startswith(tag.encode() + b" OK"), (text, line)
            return time.monotonic() - t0, n, last, line
        n += 1
        last = line


def test_100k_mailbox(instance):
    c = instance.login(U, P)
    ok(c, "cr", "CREATE big")
    t0 = time.monotonic()
    poke(instance, U, "fill", "big", N)
    build = time.monotonic() - t0
    pid = worker_pid(instance, U)
    rss0, _ = rss_kb(pid)
    report = ["built %d messages in %.1fs (store-poke)" % (N, build),
              "worker RSS before SELECT: %d kB" % rss0]

    dt, n, _, tagged = timed(c, "s", "SELECT big")
    report.append("SELECT: %.2fs" % dt)
    assert tagged.startswith(b"s OK [READ-WRITE]")
    rss, hwm = rss_kb(pid)
    report.append("RSS after SELECT: %d kB (peak %d kB)" % (rss, hwm))

    dt, n, last, _ = timed(c, "f", "FETCH 1:* (UID FLAGS)")
    assert n == N and last.startswith(b"* %d FETCH (UID " % N), (n, last)
    report.append("FETCH 1:* (UID FLAGS): %.2fs" % dt)
    dt, n, _, _ = timed(c, "f2", "FETCH 50001:51000 (ENVELOPE "
                        "RFC822.SIZE)")
    assert n == 1000
    report.append("FETCH 50001:51000 (ENVELOPE RFC822.SIZE): %.2fs" % dt)
    dt, n, _, _ = timed(c, "f3", "UID FETCH 99000:* BODY.PEEK[]")
    assert n == 1001
    report.append("UID FETCH 99000:* BODY.PEEK[]: %.2fs" % dt)
    rss, hwm = rss_kb(pid)
    report.append("RSS after FETCH: %d kB (peak %d kB)" % (rss, hwm))

    dt, n, last, _ = timed(c, "se", "SEARCH UNSEEN")
    assert len(last.split()) == N + 2
    report.append("SEARCH UNSEEN: %.2fs" % dt)
    dt, n, last, _ = timed(c, "se2", 'UID SEARCH SUBJECT "poke message 42"')
    report.append('UID SEARCH SUBJECT "poke message 42": %.2fs (%d hits)'
                  % (dt, len(last.split()) - 2))
    assert len(last.split()) > 2
    rss, hwm = rss_kb(pid)
    report.append("RSS after SEARCH: %d kB (peak %d kB)" % (rss, hwm))

    # SORT and THREAD of all of it: keys from the parse cache, one compact
    # record a message (the bound at the end covers them)
    dt, n, last, _ = timed(c, "so", "SORT (REVERSE DATE SUBJECT) UTF-8 ALL")
    assert last.startswith(b"* SORT ") and len(last.split()) == N + 2
    report.append("SORT (REVERSE DATE SUBJECT): %.2fs" % dt)
    dt, n, last, _ = timed(c, "th", "UID THREAD REFERENCES UTF-8 ALL")
    assert last.startswith(b"* THREAD (")
    assert len(re.findall(rb"\d+", last)) == N
    report.append("UID THREAD REFERENCES: %.2fs" % dt)
    rss, hwm = rss_kb(pid)
    report.append("RSS after SORT, THREAD: %d kB (peak %d kB)" % (rss, hwm))

    # another process marks all 100k \Seen, then expunges half: an idling
    # session receives every update, in pieces the output budget allows
    c.send(b"i IDLE\r\n")
    assert c.readline().startswith(b"+")
    t0 = time.monotonic()
    poke(instance, U, "flags", "big", 1, 4294967295, "+1")
    seen = 0
    while seen < N:
        line = c.readline()
        if b" FETCH " in line:
            assert b"\\Seen" in line
            seen += 1
    report.append("IDLE: %d FETCH FLAGS from another process in %.2fs"
                  % (N, time.monotonic() - t0))
    t0 = time.monotonic()
    poke(instance, U, "expunge", "big", 1, N // 2)
    gone = 0
    while gone < N // 2:
        line = c.readline()
        if line.endswith(b" EXPUNGE"):
            gone += 1
    report.append("IDLE: %d EXPUNGE in %.2fs" % (N // 2,
                                                  time.monotonic() - t0))
    c.send(b"DONE\r\n")
    lines = c.read_until_tagged("i")
    assert lines[-1].startswith(b"i OK"), lines[-3:]
    lines, _ = ok(c, "n", "NOOP")
    lines, _ = ok(c, "f4", "FETCH * UID")
    assert lines[-1] == b"* %d FETCH (UID %d)" % (N // 2, N), lines[-1]
    rss, hwm = rss_kb(pid)
    report.append("RSS at the end: %d kB (peak %d kB)" % (rss, hwm))
    print("\n" + "\n".join(report))
    # bounded: the view is 12 bytes a message, the store's snapshot 64;
    # under ASan freed memory sits in its quarantine (256 MB) first
    with open("/proc/%d/maps" % pid) as f:
        asan = "libasan" in f.read()
    assert hwm < (800 if asan else 300) * 1024, hwm
    c.close()
