"""imap_compress withdraws COMPRESS=DEFLATE per listener: here only the
implicit-TLS listener offers it; sessions from the STARTTLS port neither see
the capability nor may use the command. The worker learns the listener from
the session record the login process started. imap_compress_level sets the
zlib level of the server's output."""

import random
import zlib

import imapa
from test_compress import ZConn, caps

U, P = "zipcfg@example.org", "zipcfg-pw-1"
POSTERN_CONF = {"imap_compress": "imaps", "imap_compress_level": "1"}
users = imapa.users_fixture((U, P))


def test_withdrawn_on_starttls_listener(instance):
    c = instance.starttls(instance.imap_plain())
    _, tagged = c.command("li", "LOGIN %s %s" % (U, P))
    assert tagged.startswith(b"li OK"), tagged
    assert b"COMPRESS=DEFLATE" not in caps(tagged)
    lines, _ = imapa.ok(c, "c", "CAPABILITY")
    assert not any(b"COMPRESS" in l for l in lines), lines
    imapa.no(c, "z", "COMPRESS DEFLATE")
    imapa.ok(c, "n", "NOOP")  # still plaintext
    c.close()


def test_still_offered_on_imaps(instance):
    c = instance.imaps()
    _, tagged = c.command("li", "LOGIN %s %s" % (U, P))
    assert b"COMPRESS=DEFLATE" in caps(tagged)
    c.send(b"z COMPRESS DEFLATE\r\n")
    assert c._rawline().startswith(b"z OK")
    z = ZConn(c)
    imapa.ok(z, "n", "NOOP")
    z.close()


def test_compress_level(instance):
    """Level 1: a FETCH of word salt costs about what zlib level 1 makes of
    it, clearly more than level 9 would."""
    rnd = random.Random(1)
    words = [b"".join(bytes([rnd.randrange(97, 123)])
                      for _ in range(rnd.randrange(2, 9)))
             for _ in range(3000)]
    text = b" ".join(rnd.choice(words) for _ in range(60000))
    msg = imapa.message(1, subject=b"words") + text + b"\r\n"
    c = instance.imaps()
    imapa.ok(c, "li", "LOGIN %s %s" % (U, P))
    _, uid = imapa.append(c, "INBOX", msg)
    c.send(b"z COMPRESS DEFLATE\r\n")
    assert c._rawline().startswith(b"z OK")
    z = ZConn(c)
    imapa.ok(z, "s", "EXAMINE INBOX")
    before = z.wire_in
    lines, _ = imapa.ok(z, "f", "UID FETCH %d (BODY.PEEK[])" % uid)
    assert msg in lines[0]
    got = z.wire_in - before
    fast = len(zlib.compress(msg, 1))
    best = len(zlib.compress(msg, 9))
    assert best < fast * 0.95, (best, fast)  # the test can tell them apart
    assert abs(got - fast) < abs(got - best), (got, fast, best)
    z.close()
