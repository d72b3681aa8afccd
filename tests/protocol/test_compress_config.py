"""imap_compress withdraws COMPRESS=DEFLATE per listener: here only the
implicit-TLS listener offers it; sessions from the STARTTLS port neither see
the capability nor may use the command. The worker learns the listener from
the session record the login process started."""

import imapa
from test_compress import ZConn, caps

U, P = "zipcfg@example.org", "zipcfg-pw-1"
POSTERN_CONF = {"imap_compress": "imaps"}
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
