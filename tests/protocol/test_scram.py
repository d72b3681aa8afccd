"""SCRAM-SHA-256/SHA-1 with and without -PLUS (RFC 5802, RFC 7677,
RFC 5929 tls-unique, RFC 9266 tls-exporter), SASLprep of names and
passwords, and interop with gsasl and cyrus imtest.

The Python client below is written from RFC 5802. Python's ssl has no
tls-exporter (3.11), so its -PLUS cases run over TLS 1.2 (tls-unique);
gsasl covers tls-exporter over TLS 1.3."""

import base64
import hashlib
import hmac
import os
import re
import shutil
import ssl
import subprocess
import unicodedata

import pytest

import helpers
from helpers import caps_of, tagged_status

# Every failure below comes from 127.0.0.1: no blocking in this module
# (test_throttle.py tests that).
POSTERN_CONF = {"auth_fail_limit": "0", "login_auth_failure_delay": "0"}

USER, PW = "scram@example.org", "pencil-Sharpener-42"
NFC_USER = unicodedata.normalize("NFC", "jos\u00e9@example.org")
NFD_USER = unicodedata.normalize("NFD", NFC_USER)
NFC_PW = unicodedata.normalize("NFC", "p\u00e4ssw\u00f6rd-\u00c5ngstr\u00f6m")
NFD_PW = unicodedata.normalize("NFD", NFC_PW)

GSASL = shutil.which("gsasl")
IMTEST = shutil.which("imtest") or (
    "/usr/lib/cyrus/bin/imtest"
    if os.access("/usr/lib/cyrus/bin/imtest", os.X_OK) else None)


def b64(b):
    return base64.b64encode(b).decode()


def esc(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """One SCRAM exchange, client side. flag: 'n', 'y' or 'p'; cb_name is
    what goes after "p="; cb_data the binding bytes put into c=."""

    def __init__(self, hname, user, pw, flag="n", cb_name=None, cb_data=b"",
                 authzid=None, nonce=None, extra_first=""):
        self.h = hname
        self.user, self.pw = user, pw
        gs2 = "p=" + cb_name if flag == "p" else flag
        self.gs2 = gs2 + "," + ("a=" + esc(authzid) if authzid else "") + ","
        self.cb_data = cb_data
        self.cnonce = nonce or b64(os.urandom(18))
        self.bare = extra_first + "n=" + esc(user) + ",r=" + self.cnonce

    def first(self):
        return (self.gs2 + self.bare).encode()

    def final(self, server_first, nonce_override=None, c_override=None,
              proof_override=None):
        sf = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        nonce = attrs["r"]
        assert nonce.startswith(self.cnonce), sf
        assert len(nonce) - len(self.cnonce) >= 24, sf
        salt, it = base64.b64decode(attrs["s"]), int(attrs["i"])
        pw = unicodedata.normalize("NFKC", self.pw).encode()
        salted = hashlib.pbkdf2_hmac(self.h, pw, salt, it)
        ck = hmac.new(salted, b"Client Key", self.h).digest()
        sk = hashlib.new(self.h, ck).digest()
        c = c_override if c_override is not None else \
            b64(self.gs2.encode() + self.cb_data)
        without = "c=" + c + ",r=" + (nonce_override or nonce)
        am = (self.bare + "," + sf + "," + without).encode()
        sig = hmac.new(sk, am, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(ck, sig))
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        self.want_v = b64(hmac.new(server_key, am, self.h).digest())
        p = proof_override if proof_override is not None else b64(proof)
        return (without + ",p=" + p).encode()


def connect(inst, tls12=False):
    if tls12:
        ctx = inst.client_ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return inst.imaps(ctx=ctx)
    return inst.imaps()


def tls_unique(c):
    return c.sock.get_channel_binding("tls-unique")


def scram_login(c, mech, client, ir=True, **final_kw):
    """Runs AUTHENTICATE; returns (tagged line, server-final or None)."""
    first = b64(client.first())
    if ir:
        c.send("a AUTHENTICATE %s %s\r\n" % (mech, first))
    else:
        c.send("a AUTHENTICATE %s\r\n" % mech)
        line = c.readline()
        assert line == b"+ " or line == b"+", line
        c.send(first + "\r\n")
    line = c.readline()
    if not line.startswith(b"+ "):
        return line, None
    c.send(b64(client.final(base64.b64decode(line[2:]), **final_kw)) +
           "\r\n")
    line = c.readline()
    if not line.startswith(b"+ "):
        return line, None
    server_final = base64.b64decode(line[2:]).decode()
    c.send("\r\n")
    return c.readline(), server_final


@pytest.fixture(scope="module")
def users(instance):
    instance.add_user(USER, PW)
    instance.add_user(NFC_USER, NFC_PW)
    return instance


def ok(line):
    return line.startswith(b"a OK")


# ---- capabilities ----------------------------------------------------------

def test_capabilities(users):
    want = {"AUTH=SCRAM-SHA-256-PLUS", "AUTH=SCRAM-SHA-256",
            "AUTH=SCRAM-SHA-1-PLUS", "AUTH=SCRAM-SHA-1", "AUTH=PLAIN",
            "AUTH=LOGIN"}
    with users.imaps() as c:
        auth = {x for x in caps_of([c.greeting]) if x.startswith("AUTH=")}
        assert want <= auth and auth - want <= {"AUTH=EXTERNAL"}, auth
    with users.imap_plain() as c:
        auth = {x for x in caps_of([c.greeting]) if x.startswith("AUTH=")}
        assert auth == set(), auth
        users.starttls(c)
        lines, _ = c.command("c", "CAPABILITY")
        auth = {x for x in caps_of(lines) if x.startswith("AUTH=")}
        assert want <= auth and auth - want <= {"AUTH=EXTERNAL"}, auth


# ---- success ---------------------------------------------------------------

@pytest.mark.parametrize("mech,h", [("SCRAM-SHA-256", "sha256"),
                                    ("SCRAM-SHA-1", "sha1")])
@pytest.mark.parametrize("ir", [True, False])
def test_scram_ok(users, mech, h, ir):
    with users.imaps() as c:
        cl = ScramClient(h, USER, PW)
        tagged, v = scram_login(c, mech, cl, ir=ir)
        assert ok(tagged), (tagged, users.log_tail())
        assert v == "v=" + cl.want_v
        _, t = c.command("n", "NOOP")
        assert t.startswith(b"n OK")


@pytest.mark.parametrize("mech,h", [("SCRAM-SHA-256-PLUS", "sha256"),
                                    ("SCRAM-SHA-1-PLUS", "sha1")])
def test_scram_plus_tls12(users, mech, h):
    with connect(users, tls12=True) as c:
        assert c.sock.version() == "TLSv1.2"
        cl = ScramClient(h, USER, PW, "p", "tls-unique", tls_unique(c))
        tagged, v = scram_login(c, mech, cl)
        assert ok(tagged), (tagged, users.log_tail())
        assert v == "v=" + cl.want_v


def test_bare_name_with_binding(users):
    """cyrus-sasl style: p=tls-unique under the bare mechanism name."""
    with connect(users, tls12=True) as c:
        cl = ScramClient("sha256", USER, PW, "p", "tls-unique",
                         tls_unique(c))
        tagged, _ = scram_login(c, "SCRAM-SHA-256", cl)
        assert ok(tagged), tagged


def test_authzid_same_user(users):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW, authzid=USER)
        assert ok(scram_login(c, "SCRAM-SHA-256", cl)[0])


def test_saslprep_names_and_passwords(users):
    """The account was added with NFC name and password; NFD spellings log
    in through PLAIN and SCRAM alike."""
    for user, pw in ((NFD_USER, NFD_PW), (NFC_USER, NFD_PW),
                     (NFD_USER, NFC_PW)):
        with users.imaps() as c:
            ir = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                  pw.encode()).decode()
            _, t = c.command("a", "AUTHENTICATE PLAIN " + ir)
            assert ok(t), (user, pw, t, users.log_tail())
        with users.imaps() as c:
            cl = ScramClient("sha256", user, pw)
            assert ok(scram_login(c, "SCRAM-SHA-256", cl)[0])
    r = users.mailadm("user", "list")
    assert NFC_USER in r.stdout and NFD_USER not in r.stdout
    r = users.mailadm("user", "add", NFD_USER, "--password-stdin",
                      input="x\n")
    assert r.returncode != 0 and "already exists" in r.stderr, r.stderr


# ---- failures --------------------------------------------------------------

def failed(tagged, e=None):
    s = tagged.decode()
    if not s.startswith("a NO [AUTHENTICATIONFAILED]"):
        return False
    return e is None or ("(e=%s)" % e) in s


def test_wrong_password(users):
    with users.imaps() as c:
        tagged, _ = scram_login(c, "SCRAM-SHA-256",
                                ScramClient("sha256", USER, "wrong"))
        assert failed(tagged, "invalid-proof"), tagged


def test_unknown_user_looks_like_wrong_password(users):
    salts = []
    for _ in range(2):
        with users.imaps() as c:
            cl = ScramClient("sha256", "nobody@example.org", "x")
            c.send("a AUTHENTICATE SCRAM-SHA-256 %s\r\n" % b64(cl.first()))
            line = c.readline()
            assert line.startswith(b"+ "), line
            sf = base64.b64decode(line[2:]).decode()
            salts.append(re.search(r",s=([^,]+),i=4096$", sf).group(1))
            c.send(b64(cl.final(sf.encode())) + "\r\n")
            assert failed(c.readline(), "invalid-proof")
    assert salts[0] == salts[1]  # stable, as a real account's would be


def test_wrong_binding_data(users):
    with connect(users, tls12=True) as c:
        cb = bytearray(tls_unique(c))
        cb[0] ^= 1
        cl = ScramClient("sha256", USER, PW, "p", "tls-unique", bytes(cb))
        tagged, _ = scram_login(c, "SCRAM-SHA-256-PLUS", cl)
        assert failed(tagged, "channel-bindings-dont-match"), tagged
    helpers.wait_for(lambda: "possible man-in-the-middle" in users.log,
                     what="MITM warning in the log")


def test_tls_unique_on_tls13(users):
    with users.imaps() as c:
        assert c.sock.version() == "TLSv1.3"
        cl = ScramClient("sha256", USER, PW, "p", "tls-unique", b"x" * 12)
        tagged, _ = scram_login(c, "SCRAM-SHA-256-PLUS", cl)
        assert failed(tagged, "unsupported-channel-binding-type"), tagged


def test_exporter_on_tls12(users):
    with connect(users, tls12=True) as c:
        cl = ScramClient("sha256", USER, PW, "p", "tls-exporter", b"x" * 32)
        tagged, _ = scram_login(c, "SCRAM-SHA-256-PLUS", cl)
        assert failed(tagged, "unsupported-channel-binding-type"), tagged


def test_y_flag_is_a_downgrade(users):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW, "y")
        tagged, _ = scram_login(c, "SCRAM-SHA-256", cl)
        assert failed(tagged, "server-does-support-channel-binding"), tagged


def test_plus_without_binding(users):
    with users.imaps() as c:
        tagged, _ = scram_login(c, "SCRAM-SHA-256-PLUS",
                                ScramClient("sha256", USER, PW, "n"))
        assert failed(tagged), tagged


def test_flag_changed_in_final(users):
    """c= must repeat the gs2 header: a flag rewritten on the way (n in
    the first message, y in c=) is caught."""
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW, "n")
        tagged, _ = scram_login(c, "SCRAM-SHA-256", cl, c_override=b64(b"y,,"))
        assert failed(tagged, "channel-bindings-dont-match"), tagged


def test_nonce_mismatch(users):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW)
        tagged, _ = scram_login(c, "SCRAM-SHA-256", cl,
                                nonce_override=cl.cnonce + "A" * 32)
        assert failed(tagged), tagged


def test_authzid_other_user(users):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW, authzid=NFC_USER)
        assert failed(scram_login(c, "SCRAM-SHA-256", cl)[0])


def test_mandatory_extension(users):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW, extra_first="m=foo,")
        tagged, _ = scram_login(c, "SCRAM-SHA-256", cl)
        assert failed(tagged, "extensions-not-supported"), tagged


@pytest.mark.parametrize("first", [
    b"", b"x", b"n", b"n,", b"n,,", b"n,,r=abc", b"n,,n=,r=abc",
    b"n,,n=user,r=", b"n,,n=us=er,r=abc", b"n,,n=user,r=a,b",
    b"q,,n=user,r=abc", b"p,,n=user,r=abc", b"p=,,n=user,r=abc",
    b"p=tls unique,,n=user,r=abc", b"n,a=,n=user,r=abc",
    b"n,,n=user\0,r=abc", b"n,,n=user,r=abc,x", b"n,,n=user,r=" + b"a" * 300,
    b"n,,n=user,r=\x7f", b"n,,n=" + b"u" * 3000 + b",r=abc",
])
def test_malformed_first(users, first):
    with users.imaps() as c:
        c.send("a AUTHENTICATE SCRAM-SHA-256 %s\r\n"
               % (b64(first) if first else "="))
        tagged = c.readline()
        assert tagged.startswith(b"a NO"), (first, tagged)


@pytest.mark.parametrize("final", [
    b"", b"c=biws", b"c=biws,r=NONCE", b"c=biws,r=NONCE,p=",
    b"c=biws,r=NONCE,p=!!!!", b"c=biws,r=NONCE,p=AAAA",
    b"c=bi,r=NONCE,p=AAAA", b"r=NONCE,c=biws,p=AAAA",
    b"c=biws,p=AAAA", b"c=biws,r=NONCE,x,p=AAAA",
])
def test_malformed_final(users, final):
    with users.imaps() as c:
        cl = ScramClient("sha256", USER, PW)
        c.send("a AUTHENTICATE SCRAM-SHA-256 %s\r\n" % b64(cl.first()))
        line = c.readline()
        nonce = re.search(rb"r=([^,]+)", base64.b64decode(line[2:])).group(1)
        final = final.replace(b"NONCE", nonce)
        c.send((b64(final) if final else "") + "\r\n")
        tagged = c.readline()
        assert tagged.startswith(b"a NO") or tagged.startswith(b"a BAD"), \
            (final, tagged)


def test_no_secrets_in_log(users):
    log = users.log
    for secret in (PW, NFC_PW, NFD_PW, "p=", "v="):
        if secret in ("p=", "v="):
            # no SCRAM message is ever logged
            assert not re.search(r"\bc=biws", log)
            continue
        assert secret not in log
    assert "mech=SCRAM-SHA-256 service=imap result=fail " \
           "reason=wrong-password name=" + USER in log
    assert "reason=unknown-user name=nobody@example.org" in log


# ---- interop ---------------------------------------------------------------

def gsasl(inst, mech, user, pw, priority=None, extra=()):
    cmd = [GSASL, "--imap", "--connect",
           "%s:%d" % (inst.host, inst.imap_port), "--starttls",
           "--x509-ca-file=", "-a", user, "-p", pw, "--mechanism", mech,
           "--verbose"] + list(extra)
    if priority:
        cmd.append("--priority=" + priority)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


@pytest.mark.skipif(GSASL is None, reason="gsasl not installed")
@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256",
                                  "SCRAM-SHA-1-PLUS"])
@pytest.mark.parametrize("version", ["1.3", "1.2"])
def test_gsasl(users, mech, version):
    """-PLUS binds to tls-exporter on 1.3 and tls-unique on 1.2. gsasl 2.2
    refuses by itself to run a bare SCRAM over TLS unless told --no-cb
    (then it sends the gs2 flag "n")."""
    prio = "NORMAL:-VERS-ALL:+VERS-TLS" + version
    extra = [] if mech.endswith("-PLUS") else ["--no-cb"]
    r = gsasl(users, mech, USER, PW, priority=prio, extra=extra)
    out = r.stdout + r.stderr
    assert r.returncode == 0, (out, users.log_tail())
    assert "OK" in out, out
    r = gsasl(users, mech, USER, "wrong", priority=prio, extra=extra)
    assert r.returncode != 0, r.stdout + r.stderr


def imtest(inst, mech, user, pw, tls12):
    env = dict(os.environ)
    if tls12:
        conf = os.path.join(inst.dir, "openssl-tls12.cnf")
        with open(conf, "w") as f:
            f.write("openssl_conf = c\n[c]\nssl_conf = s\n[s]\n"
                    "system_default = d\n[d]\nMaxProtocol = TLSv1.2\n")
        env["OPENSSL_CONF"] = conf
    cmd = [IMTEST, "-s", "-p", str(inst.imaps_port), "-a", user, "-w", pw,
           "-m", mech, inst.host]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                          input="x LOGOUT\r\n", env=env)


@pytest.mark.skipif(IMTEST is None, reason="cyrus imtest not installed")
@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
def test_imtest_tls12(users, mech):
    """imtest (cyrus-sasl 2.1.28) sends p=tls-unique for -PLUS, n for the
    bare name."""
    r = imtest(users, mech, USER, PW, tls12=True)
    out = r.stdout + r.stderr
    assert "TLSv1.2" in out and "Authenticated." in out, \
        (out, users.log_tail())
    r = imtest(users, mech, USER, "wrong", tls12=True)
    assert "Authenticated." not in r.stdout + r.stderr


@pytest.mark.skipif(IMTEST is None, reason="cyrus imtest not installed")
def test_imtest_tls13(users):
    """imtest asks for tls-unique on TLS 1.3 too, where it does not exist:
    a clean NO naming the reason (doc/clients.md); the bare mechanism
    works."""
    r = imtest(users, "SCRAM-SHA-256-PLUS", USER, PW, tls12=False)
    out = r.stdout + r.stderr
    assert "TLSv1.3" in out, out
    assert "NO [AUTHENTICATIONFAILED] Authentication failed " \
           "(e=unsupported-channel-binding-type)" in out, out
    r = imtest(users, "SCRAM-SHA-256", USER, PW, tls12=False)
    assert "Authenticated." in r.stdout + r.stderr
