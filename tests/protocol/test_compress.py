"""COMPRESS=DEFLATE (RFC 4978) byte for byte with Python's zlib: raw
deflate both ways, clients flushing with Z_PARTIAL_FLUSH / Z_SYNC_FLUSH /
Z_FULL_FLUSH, commands pipelined across the switch (also inside the login
hand-off), COMPRESS over IMAPS and over STARTTLS, the refusals (second
COMPRESS, unknown algorithm, missing argument, before authentication),
large streamed FETCH bodies, LOGOUT ending the stream, and the
failure-safety rule: 200 clients vanishing in the middle of a large
incompressible FETCH leave the worker alive and sanitizer-clean."""

import os
import random
import re
import socket
import struct
import zlib

import pytest

import helpers
import imapa

U, P = "zip@example.org", "zip-pw-1"
# a worker without connections exits soon, so LeakSanitizer reports (at
# exit) land in the log while the test still looks
POSTERN_CONF = {"worker_idle_timeout": "2"}
users = imapa.users_fixture((U, P))

# the sync-flush marker: an empty stored block
SYNC_TAIL = b"\x00\x00\xff\xff"


class ZConn(helpers.Conn):
    """The client side of a COMPRESS=DEFLATE stream on top of a Conn whose
    tagged OK for COMPRESS was just read. Every send is compressed and
    flushed with `flush`; every received chunk is inflated."""

    def __init__(self, conn, flush=zlib.Z_SYNC_FLUSH):
        super().__init__(conn.sock)
        self.co = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.de = zlib.decompressobj(-15)
        self.flush = flush
        self.wire = b""  # every compressed byte sent
        self.wire_in = 0
        # anything received behind the OK was already compressed
        self.buf = self.de.decompress(conn.buf) if conn.buf else b""

    def zbytes(self, data):
        if isinstance(data, str):
            data = data.encode()
        return self.co.compress(data) + self.co.flush(self.flush)

    def send(self, data):
        raw = self.zbytes(data)
        self.wire += raw
        self.sock.sendall(raw)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise helpers.ConnectionClosed("closed; unread %r" % self.buf)
        self.wire_in += len(chunk)
        self.buf += self.de.decompress(chunk)


def caps(line):
    m = re.search(rb"\[CAPABILITY ([^\]]*)\]", line)
    return m.group(1).split() if m else []


def login(instance, tls="imaps"):
    if tls == "imaps":
        c = instance.imaps()
    else:
        c = instance.starttls(instance.imap_plain())
    _, tagged = c.command("li", "LOGIN %s %s" % (U, P))
    assert tagged.startswith(b"li OK"), tagged
    return c, tagged


def compress(c, flush=zlib.Z_SYNC_FLUSH):
    c.send(b"z COMPRESS DEFLATE\r\n")
    line = c._rawline()  # plaintext: the stream starts after it
    assert line.startswith(b"z OK"), line
    return ZConn(c, flush)


@pytest.fixture(scope="module")
def bigmsg(instance):
    """A 3 MB message of random (incompressible) base64-free bytes and a
    compressible one, appended to INBOX once."""
    rnd = random.Random(4978)
    noise = bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024))
    # no bare CR/LF trouble: the store keeps the bytes as sent
    big = imapa.message(1, subject=b"noise") + noise + b"\r\n"
    text = imapa.message(2, size=200000, subject=b"text")
    c, _ = login(instance)
    imapa.append(c, "INBOX", big)
    imapa.append(c, "INBOX", text)
    c.close()
    return big, text


def test_capability_only_after_login(instance):
    c = instance.imaps()
    assert b"COMPRESS=DEFLATE" not in c.greeting
    lines, _ = c.command("c", "CAPABILITY")
    assert not any(b"COMPRESS" in l for l in lines)
    # refused before authentication, and the connection goes on
    _, tagged = c.command("z", "COMPRESS DEFLATE")
    assert tagged.startswith(b"z BAD"), tagged
    _, tagged = c.command("n", "NOOP")
    assert tagged.startswith(b"n OK"), tagged
    _, tagged = c.command("li", "LOGIN %s %s" % (U, P))
    assert b"COMPRESS=DEFLATE" in caps(tagged)
    lines, _ = c.command("c", "CAPABILITY")
    assert any(b"COMPRESS=DEFLATE" in l for l in lines)
    c.close()


@pytest.mark.parametrize("flush", [zlib.Z_PARTIAL_FLUSH, zlib.Z_SYNC_FLUSH,
                                   zlib.Z_FULL_FLUSH],
                         ids=["partial", "sync", "full"])
def test_flush_modes(instance, bigmsg, flush):
    """Every command is answered as soon as its bytes are decodable, however
    the client flushed; the server's output ends each flush with a sync
    marker."""
    c, _ = login(instance)
    z = compress(c, flush)
    raw = z.zbytes(b"n1 NOOP\r\n")
    if flush == zlib.Z_PARTIAL_FLUSH:
        # the point of the test: no empty stored block behind the data
        assert not raw.endswith(SYNC_TAIL)
    z.sock.sendall(raw)
    # a read timeout here means the server waited for more input
    lines = z.read_until_tagged("n1")
    assert lines[-1].startswith(b"n1 OK"), lines
    for i in range(5):
        imapa.ok(z, "s%d" % i, "SELECT INBOX")
        lines, _ = imapa.ok(z, "f%d" % i, "UID FETCH 2 (BODY.PEEK[])")
    _, text = bigmsg
    assert lines[0].endswith(text + b")"), lines[0][:200]
    z.close()


def test_sync_flush_output(instance):
    """The server's bytes for one response end with the sync marker: the
    client can decode them without waiting for more."""
    c, _ = login(instance)
    z = compress(c)
    z.send(b"n NOOP\r\n")
    data = b""
    while not data.endswith(SYNC_TAIL):
        chunk = z.sock.recv(65536)
        assert chunk, "connection closed"
        data += chunk
    out = z.de.decompress(data)
    assert out.endswith(b"n OK NOOP completed\r\n") or \
        re.search(rb"n OK[^\r\n]*\r\n$", out), out
    z.close()


def pipelined(c, before, compressed, tags):
    """Sends before + COMPRESS + compressed commands in one write and reads
    the plaintext OK, then the tagged answers to tags (compressed)."""
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    tail = co.compress(compressed) + co.flush(zlib.Z_SYNC_FLUSH)
    c.send(before + b"z COMPRESS DEFLATE\r\n" + tail)
    if before:
        lines = c.read_until_tagged("li")
        assert lines[-1].startswith(b"li OK"), lines
    line = c._rawline()
    assert line.startswith(b"z OK"), line
    z = ZConn(c)
    z.co = co
    for tag in tags:
        lines = z.read_until_tagged(tag)
        assert lines[-1].startswith(tag.encode() + b" OK"), lines
    return z


def test_pipelined_behind_compress(instance):
    """Compressed bytes sent in the same write as the COMPRESS command go to
    the inflater, not the parser."""
    c, _ = login(instance)
    z = pipelined(c, b"", b"p1 NOOP\r\np2 SELECT INBOX\r\n", ["p1", "p2"])
    imapa.ok(z, "n", "NOOP")
    z.close()


def test_pipelined_with_login(instance):
    """LOGIN, COMPRESS and a compressed command in one packet: the bytes
    behind LOGIN travel with the hand-off, and those behind COMPRESS are
    inflated by the worker."""
    c = instance.imaps()
    z = pipelined(c, b"li LOGIN %s %s\r\n" % (U.encode(), P.encode()),
                  b"p1 NOOP\r\n", ["p1"])
    z.close()


@pytest.mark.parametrize("tls", ["imaps", "starttls"])
def test_compress_over_tls(instance, bigmsg, tls):
    c, tagged = login(instance, tls)
    assert b"COMPRESS=DEFLATE" in caps(tagged)
    z = compress(c)
    imapa.ok(z, "s", "EXAMINE INBOX")
    lines, _ = imapa.ok(z, "f", "UID FETCH 1:2 (BODY.PEEK[])")
    big, text = bigmsg
    assert lines[0].endswith(b"{%d}\r\n" % len(big) + big + b")") or \
        big in lines[0], lines[0][:200]
    assert text in lines[1]
    # the incompressible body went out at about its size, the text one
    # much smaller: the stream really is compressed
    assert z.wire_in < len(big) + len(text) // 2
    z.close()


def test_refusals(instance):
    c, _ = login(instance)
    imapa.bad(c, "m", "COMPRESS")
    _, tagged = imapa.no(c, "u", "COMPRESS LZMA")
    assert b"COMPRESSIONACTIVE" not in tagged
    z = compress(c)
    imapa.no(z, "z2", "COMPRESS DEFLATE", code="COMPRESSIONACTIVE")
    imapa.no(z, "u2", "COMPRESS LZMA")
    imapa.bad(z, "m2", "COMPRESS")
    imapa.ok(z, "n", "NOOP")
    z.close()


def test_garbage_compressed_input_closes(instance):
    """Bytes that are not deflate data end the connection (no answer can
    be encoded any more), the worker survives."""
    c, _ = login(instance)
    z = compress(c)
    imapa.ok(z, "n", "NOOP")
    pid = imapa.worker_pid(instance, U)
    z.sock.sendall(b"\xff" * 64)
    z.read_eof()
    c2, _ = login(instance)
    imapa.ok(c2, "n", "NOOP")
    assert imapa.worker_pid(instance, U) == pid
    c2.close()


def test_logout_ends_stream(instance):
    c, _ = login(instance)
    z = compress(c)
    z.send(b"lo LOGOUT\r\n")
    lines = z.read_eof()
    assert lines[0].startswith(b"* BYE"), lines
    assert lines[-1].startswith(b"lo OK"), lines
    # the server finished its deflate stream: a final block, nothing after
    assert z.de.eof, "deflate stream not finished at LOGOUT"
    assert z.de.unused_data == b""


def _sanitizer_report(log):
    return [l for l in log.splitlines()
            if "Sanitizer" in l or "runtime error" in l]


def test_client_vanishes_during_fetch(instance, bigmsg):
    """200 times: a compressed FETCH of a 3 MB incompressible body, the
    client reads a little and closes its socket (RST). The worker must stay
    up, keep serving, free every connection, and ASan/UBSan must stay
    quiet."""
    pid = imapa.worker_pid(instance, U)
    before = instance.log.count("disconnected reason=")
    for i in range(200):
        c, _ = login(instance)
        z = compress(c)
        imapa.ok(z, "s", "EXAMINE INBOX")
        z.send(b"f UID FETCH 1 (BODY.PEEK[])\r\n")
        got = z.sock.recv(4096 if i % 2 else 65536)
        assert got
        # RST instead of FIN on every other connection
        if i % 2 == 0:
            z.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        z.close()
    helpers.wait_for(
        lambda: instance.log.count("disconnected reason=") >= before + 200,
        timeout=60, what="every connection freed")
    assert set(instance.worker_pids(U)) == {pid}, "worker crashed or leaked"
    helpers.wait_for(lambda: not instance.proxy_pids(), timeout=30,
                     what="every TLS proxy gone")
    c, _ = login(instance)
    imapa.ok(c, "n", "NOOP")
    c.close()
    # the worker retires once idle: a clean exit, no leak report
    helpers.wait_for(lambda: "imap pid=%d exit status" % pid in instance.log,
                     timeout=30, what="the worker to retire")
    assert "imap pid=%d exit status 0" % pid in instance.log
    assert _sanitizer_report(instance.log) == []


def test_idle_updates_flushed(instance):
    """In IDLE the updates another session causes arrive compressed and
    decodable at once (the worker's flush ends in a sync marker), and DONE
    sent with a partial flush ends the IDLE."""
    c, _ = login(instance)
    z = compress(c, zlib.Z_PARTIAL_FLUSH)
    imapa.ok(z, "s", "SELECT INBOX")
    z.send(b"i IDLE\r\n")
    assert z.readline().startswith(b"+")
    other, _ = login(instance)
    imapa.append(other, "INBOX", imapa.message(9, subject=b"idle"))
    other.close()
    line = z.readline()  # no read timeout: it was flushed
    assert re.match(rb"\* \d+ EXISTS$", line), line
    z.send(b"DONE\r\n")
    lines = z.read_until_tagged("i")
    assert lines[-1].startswith(b"i OK"), lines
    z.close()


def test_append_streamed_through_inflater(instance):
    """A 2 MB APPEND with a synchronizing literal: the "+" goes out
    compressed and flushed, the literal streams through the inflater to the
    store, and FETCH gives back every byte."""
    c, _ = login(instance)
    z = compress(c)
    rnd = random.Random(7)
    body = bytes(rnd.choice(b"abcdefgh \r\n") for _ in range(2 << 20))
    msg = imapa.message(5, subject=b"streamed") + body
    _, uid = imapa.append(z, "Drafts", msg, tag="ap", sync=True)
    imapa.ok(z, "s", "EXAMINE Drafts")
    lines, _ = imapa.ok(z, "f", "UID FETCH %d (BODY.PEEK[])" % uid)
    assert lines[0].endswith(b"{%d}\r\n" % len(msg) + msg + b")") or \
        msg in lines[0]
    z.close()


def test_sessions_interleaved(instance):
    """One worker, several compressed connections at once: each has its own
    stream pair (a mix-up would corrupt every one of them)."""
    conns = []
    for i in range(4):
        c, _ = login(instance)
        conns.append(compress(c, [zlib.Z_SYNC_FLUSH, zlib.Z_PARTIAL_FLUSH,
                                  zlib.Z_FULL_FLUSH, zlib.Z_SYNC_FLUSH][i]))
    assert len(set(instance.worker_pids(U))) == 1
    for round_ in range(5):
        for i, z in enumerate(conns):
            z.send(b"t%d%d EXAMINE INBOX\r\n" % (i, round_))
        for i, z in enumerate(conns):
            lines = z.read_until_tagged("t%d%d" % (i, round_))
            assert lines[-1].startswith(b"t%d%d OK" % (i, round_)), lines
    for z in conns:
        z.send(b"lo LOGOUT\r\n")
        z.read_eof()
        assert z.de.eof
