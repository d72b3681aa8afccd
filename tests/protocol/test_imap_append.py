"""APPEND (RFC 9051 6.3.12) with UIDPLUS (RFC 4315), LITERAL+ (RFC 7888),
literal8 (RFC 3516), UTF8 (RFC 6855) and APPENDLIMIT/TOOBIG (RFC 7889);
literals streamed to disk; pipelining; hostile messages."""

import os
import re
import time

import helpers
from imapa import (append, bad, code_of, exists, home_of, message, no, ok,
                   rss_kb, users_fixture, worker_pid)

U, P = "append@example.org", "append-pw-1"
LIMIT = 16 * 1024 * 1024
POSTERN_CONF = {"imap_max_literal": str(LIMIT)}


users = users_fixture((U, P))


def body_of(c, uid, tag="fb"):
    lines, _ = ok(c, tag, "UID FETCH %d BODY.PEEK[]" % uid)
    line = [l for l in lines if b" FETCH " in l][0]
    m = re.search(rb"BODY\[\] \{(\d+)\}\r\n", line)
    n = int(m.group(1))
    return line[m.end():m.end() + n]


def test_append_basic(instance):
    """RFC 9051 6.3.12 example with APPENDUID (RFC 4315 3)."""
    c = instance.login(U, P)
    lines, _ = ok(c, "st", "STATUS INBOX (UIDVALIDITY UIDNEXT)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", lines[0]).group(1))
    msg = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
           b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
           b"Subject: afternoon meeting\r\n"
           b"To: mooch@owatagu.siam.edu.example\r\n"
           b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n"
           b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")
    v, uid = append(c, "INBOX", msg, flags="\\Seen $Label1",
                    date=" 7-Feb-1994 21:52:25 -0800", sync=True)
    assert v == uv
    ok(c, "s", "SELECT INBOX")
    lines, _ = ok(c, "f", "UID FETCH %d (FLAGS INTERNALDATE RFC822.SIZE)"
                  % uid)
    assert b"\\Seen" in lines[0] and b"$Label1" in lines[0], lines
    assert re.search(rb'INTERNALDATE "( |0)7-Feb-1994 21:52:25 -0800"',
                     lines[0]), lines
    assert b"RFC822.SIZE %d" % len(msg) in lines[0]
    assert body_of(c, uid) == msg
    # APPEND to the selected mailbox: EXISTS before the tagged OK
    c.send(b"a2 APPEND INBOX {5+}\r\nHello\r\n")
    lines = c.read_until_tagged("a2")
    assert exists(lines[:-1]) == 2, lines
    assert code_of(lines[-1], "APPENDUID") == "%d %d" % (uv, uid + 1)
    c.close()


def test_append_errors(instance):
    c = instance.login(U, P)
    # TRYCREATE for a missing mailbox before any literal is asked for,
    # however small (every message literal is checked before it is read)
    c.send(b"t1 APPEND nosuch {5}\r\n")
    line = c.readline()
    assert line.startswith(b"t1 NO [TRYCREATE]"), line
    # a large synchronizing one is refused before the client sends a byte
    c.send(b"t2 APPEND nosuch {30000}\r\n")
    assert c.readline().startswith(b"t2 NO [TRYCREATE]")
    ok(c, "n", "NOOP")  # the literal never came; the session goes on
    c.send(b"t3 APPEND nosuch {5+}\r\nHello\r\n")
    assert c.read_until_tagged("t3")[-1].startswith(b"t3 NO [TRYCREATE]")
    c.send(b"t4 APPEND nosuch {30000+}\r\n" + b"x" * 30000 + b"\r\n")
    assert c.read_until_tagged("t4")[-1].startswith(b"t4 NO [TRYCREATE]")
    ok(c, "n2", "NOOP")
    bad(c, "b1", "APPEND INBOX (\\Bogus) {1+}\r\nx")
    bad(c, "b2", 'APPEND INBOX "32-Feb-2020 00:00:00 +0000" {1+}\r\nx')
    bad(c, "b3", 'APPEND INBOX "not a date" {1+}\r\nx')
    bad(c, "b4", "APPEND INBOX")
    bad(c, "b5", "APPEND INBOX (\\Seen) notaliteral")
    c.close()


def test_toobig(instance):
    """RFC 7889: APPENDLIMIT is advertised and enforced with TOOBIG, before
    the data is read; a LITERAL+ body is skipped and the session goes on."""
    c = instance.login(U, P)
    lines, _ = ok(c, "c", "CAPABILITY")
    assert "APPENDLIMIT=%d" % LIMIT in helpers.caps_of(lines)
    lines, _ = ok(c, "st", "STATUS INBOX (APPENDLIMIT)")
    assert lines == [b'* STATUS "INBOX" (APPENDLIMIT %d)' % LIMIT]
    c.send(b"t1 APPEND INBOX {%d}\r\n" % (LIMIT + 1))
    assert c.readline().startswith(b"t1 NO [TOOBIG]")
    big = b"y" * (LIMIT + 1)
    c.send(b"t2 APPEND INBOX {%d+}\r\n" % len(big) + big + b"\r\n")
    assert c.read_until_tagged("t2")[-1].startswith(b"t2 NO [TOOBIG]")
    ok(c, "n", "NOOP")
    c.close()


def test_literal_forms(instance):
    """literal8 keeps NULs (RFC 3516 4.4); the UTF8 (~{n}) form
    (RFC 6855 4); pipelined APPENDs with LITERAL+ in one write."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE forms")
    data = b"Subject: bin\r\n\r\nzero\x00byte\r\n"
    c.send(b"l8 APPEND forms ~{%d}\r\n" % len(data))
    assert c.readline().startswith(b"+")
    c.send(data + b"\r\n")
    uid = int(code_of(c.read_until_tagged("l8")[-1],
                      "APPENDUID").split()[1])
    ok(c, "e", "ENABLE UTF8=ACCEPT")
    u8 = "Subject: Grüße\r\n\r\nÜ\r\n".encode()
    c.send(b"u8 APPEND forms UTF8 (~{%d+}\r\n" % len(u8) + u8 + b")\r\n")
    uid2 = int(code_of(c.read_until_tagged("u8")[-1],
                       "APPENDUID").split()[1])
    ok(c, "s", "SELECT forms")
    assert body_of(c, uid) == data
    assert body_of(c, uid2) == u8
    # three APPENDs and a NOOP in one write, answered in order
    msgs = [message(i) for i in range(3)]
    blob = b"".join(b"p%d APPEND forms {%d+}\r\n%s\r\n" % (i, len(m), m)
                    for i, m in enumerate(msgs)) + b"pn NOOP\r\n"
    c.send(blob)
    lines = c.read_until_tagged("pn")
    tagged = [l.split()[0] for l in lines if not l.startswith(b"*")]
    assert tagged == [b"p0", b"p1", b"p2", b"pn"], lines
    uids = [int(code_of(l, "APPENDUID").split()[1]) for l in lines
            if l.startswith(b"p") and b"APPENDUID" in l]
    assert uids == [uid2 + 1, uid2 + 2, uid2 + 3]
    c.close()


def test_streamed_with_flags_and_date(instance):
    """A message large enough to be streamed (>= 16 KiB) after a flag list
    and a date, in every literal form, including an empty flag list and a
    mailbox named UTF8 (which must not be taken for the UTF8 (...) form)."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE UTF8")
    big = message(7, size=64 * 1024, subject=b"flags and date")
    date = b'"05-Mar-2024 10:11:12 +0100"'
    forms = [
        (b"INBOX (\\Seen $Forwarded) " + date, b"{%d+}", True),
        (b"INBOX () " + date, b"{%d}", False),
        (b"INBOX (\\Flagged)", b"~{%d}", False),
        (b"UTF8 (\\Seen)", b"{%d+}", True),
        (b"UTF8 ()", b"{%d+}", True),
    ]
    for i, (pre, lit, nonsync) in enumerate(forms):
        tag = b"f%d" % i
        head = tag + b" APPEND " + pre + b" " + lit % len(big) + b"\r\n"
        if nonsync:
            c.send(head + big + b"\r\n")
        else:
            c.send(head)
            assert c.readline().startswith(b"+"), pre
            c.send(big + b"\r\n")
        last = c.read_until_tagged(tag.decode())[-1]
        assert last.startswith(tag + b" OK [APPENDUID"), (pre, last)
    ok(c, "s", "SELECT INBOX")
    lines, _ = ok(c, "f", "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE)")
    text = b"".join(lines)
    assert b"$Forwarded" in text and b"\\Flagged" in text, text
    assert b"05-Mar-2024 10:11:12 +0100" in text, text
    assert text.count(b"RFC822.SIZE %d" % len(big)) == 3, text
    ok(c, "s2", "SELECT UTF8")
    lines, _ = ok(c, "f2", "FETCH 1:* FLAGS")
    assert len([l for l in lines if b"FETCH" in l]) == 2, lines
    c.close()


def test_streamed_append_memory(instance):
    """A 12 MB message goes to disk as it arrives: the worker's peak RSS
    grows by far less than the message."""
    c = instance.login(U, P)
    ok(c, "n", "NOOP")
    pid = worker_pid(instance, U)
    rss0, hwm0 = rss_kb(pid)
    size = 12 * 1024 * 1024
    msg = message(1, size=size, subject=b"big")
    t0 = time.monotonic()
    v, uid = append(c, "INBOX", msg, sync=True)
    dt = time.monotonic() - t0
    rss1, hwm1 = rss_kb(pid)
    print("\nstreamed APPEND of %.1f MB: %.2fs (%.1f MB/s); worker RSS "
          "%d kB -> %d kB, peak %d kB -> %d kB" % (
              len(msg) / 1e6, dt, len(msg) / 1e6 / dt, rss0, rss1, hwm0,
              hwm1))
    assert hwm1 - hwm0 < 6 * 1024, (hwm0, hwm1)
    ok(c, "s", "SELECT INBOX")
    lines, _ = ok(c, "f", "UID FETCH %d RFC822.SIZE" % uid)
    assert b"RFC822.SIZE %d" % len(msg) in lines[0]
    c.close()


def test_append_throughput(instance):
    """Small messages, one APPEND each, pipelined with LITERAL+: every OK
    means a committed, fsynced message. Prints messages/s."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE bulk")
    n = 200
    msg = message(1, size=4000)
    blob = b"".join(b"b%d APPEND bulk {%d+}\r\n%s\r\n" % (i, len(msg), msg)
                    for i in range(n))
    t0 = time.monotonic()
    c.send(blob)
    lines = c.read_until_tagged("b%d" % (n - 1))
    dt = time.monotonic() - t0
    assert sum(1 for l in lines if b" OK [APPENDUID" in l) == n
    print("\nAPPEND throughput: %d messages of %d bytes in %.2fs = %.0f "
          "msg/s, %.2f MB/s" % (n, len(msg), dt, n / dt,
                                 n * len(msg) / 1e6 / dt))
    lines, _ = ok(c, "st", "STATUS bulk (MESSAGES)")
    assert lines == [b'* STATUS "bulk" (MESSAGES %d)' % n]
    c.close()


def test_disconnect_mid_append(instance):
    """A client that goes away inside a streamed literal leaves no message
    and no file behind."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE cut")
    c.send(b"a APPEND cut {5000000+}\r\n" + b"z" * 1000000)
    ok2 = instance.login(U, P)
    ok(ok2, "n", "NOOP")  # the worker has read some of it by now
    c.close()
    tmp = os.path.join(home_of(instance, U), "tmp")
    helpers.wait_for(lambda: os.path.isdir(tmp) and not os.listdir(tmp),
                     timeout=10, what="tmp/ to be empty")
    lines, _ = ok(ok2, "st", "STATUS cut (MESSAGES)")
    assert lines == [b'* STATUS "cut" (MESSAGES 0)']
    ok2.close()


def hostile_messages():
    deep = b"Subject: deep\r\nMIME-Version: 1.0\r\n"
    parts = 2000
    for i in range(parts):
        deep += (b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                 b"--b%d\r\n" % (i, i))
    deep += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    for i in reversed(range(parts)):
        deep += b"--b%d--\r\n" % i
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(100000)) + \
        b"Subject: many\r\n\r\nbody\r\n"
    long_line = b"Subject: " + b"L" * (10 * 1024 * 1024) + b"\r\n\r\nbody\r\n"
    bad_enc = (b"Subject: =?utf-8?B?!!!notbase64?= =?bogus?Q?x?=\r\n"
               b"Content-Type: text/plain; charset=x-nonexistent\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n@@@@not base64"
               b"\xff\xfe\r\n")
    return [("deep", deep), ("100k headers", many),
            ("10 MB header line", long_line), ("bad encodings", bad_enc)]


def test_hostile_append(instance):
    """Deep MIME nesting, 100k header fields, a 10 MB header line and bad
    encodings are stored as they are; the session stays usable and the
    worker's memory bounded."""
    c = instance.login(U, P)
    ok(c, "cr", "CREATE hostile")
    pid = worker_pid(instance, U)
    for name, msg in hostile_messages():
        v, uid = append(c, "hostile", msg, sync=True)
        ok(c, "s", "SELECT hostile")
        lines, _ = ok(c, "f", "UID FETCH %d (RFC822.SIZE BODYSTRUCTURE "
                      "ENVELOPE)" % uid)
        assert b"RFC822.SIZE %d" % len(msg) in lines[0], (name, lines[0][:200])
        assert body_of(c, uid) == msg, name
        rss, hwm = rss_kb(pid)
        print("\nhostile %s (%d bytes): worker RSS %d kB, peak %d kB"
              % (name, len(msg), rss, hwm))
        assert rss < 200 * 1024, (name, rss)
    ok(c, "n", "NOOP")
    c.close()
