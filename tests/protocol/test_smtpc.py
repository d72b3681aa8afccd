"""lib/smtpc through `mailadm sendmail` against a recording loopback SMTP
server (Debian's python3-aiosmtpd, tests/protocol/smtpsink.py): STARTTLS
and implicit TLS with certificate verification, AUTH, per-recipient
refusals, pipelined and one-by-one envelopes, the message as sent (CRLF,
dots, Bcc), the sysexits codes of each failure, and the trace levels.
End-to-end against Postern's own submission server: test_sendmail.py."""

import os
import subprocess

import pytest

from helpers import MAILADM

try:
    import smtpsink
except ImportError as e:  # python3-aiosmtpd missing
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("python3-aiosmtpd not installed: %s" % e,
                allow_module_level=True)

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_NOHOST = 64, 65, 67, 68
EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 75, 77, 78

USER, PASSWORD = "alice@example.org", "correct horse battery"
MSG = (b"From: alice@example.org\n"
       b"To: bob@example.org\n"
       b"Subject: test\n"
       b"\n"
       b"hello\n")


@pytest.fixture
def pwfile(tmp_path):
    p = tmp_path / "pw"
    p.write_text(PASSWORD + "\n")
    return str(p)


def sendmail(args, data=MSG, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("POSTERN_SENDMAIL_CONF", "/nonexistent")
    return subprocess.run([MAILADM, "sendmail"] + args, input=data,
                          capture_output=True, timeout=timeout, env=e)


def auth_args(sink, pwfile, mode="--starttls"):
    return ["--server", "127.0.0.1:%d" % sink.port, mode,
            "--ca-file", sink.ca, "--user", USER, "--password-file", pwfile]


def test_starttls_auth_delivers_and_reports_refused_rcpt(tmp_path, pwfile):
    refuse = {"nobody@example.org": "550 5.1.1 no such user"}
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD},
                       refuse) as s:
        r = sendmail(auth_args(s, pwfile) +
                     ["bob@example.org", "nobody@example.org",
                      "carol@example.org"])
    assert r.returncode == EX_NOUSER, r.stderr
    assert b"nobody@example.org: 550 5.1.1 no such user" in r.stderr
    assert len(s.messages) == 1
    m = s.messages[0]
    assert m["rcpts"] == ["bob@example.org", "carol@example.org"]
    assert m["from"] == USER
    assert m["user"] == USER
    assert m["data"] == MSG.replace(b"\n", b"\r\n")


def test_implicit_tls(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "tls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile, "--tls") + ["bob@example.org"])
    assert r.returncode == 0, r.stderr
    assert [m["rcpts"] for m in s.messages] == [["bob@example.org"]]
    assert s.messages[0]["user"] == USER


def test_port_465_means_implicit_tls_by_default(tmp_path, pwfile):
    # a server that speaks plaintext SMTP where TLS is expected: the
    # handshake fails, nothing is sent in clear
    with smtpsink.Sink(str(tmp_path), None) as s:
        r = sendmail(["--server", "127.0.0.1:%d" % s.port, "--tls",
                      "--user", USER, "--password-file", pwfile,
                      "bob@example.org"])
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert s.messages == []


def test_unknown_ca_refused(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        # no --ca-file: the system bundle does not know the test CA
        r = sendmail(["--server", "127.0.0.1:%d" % s.port, "--starttls",
                      "--user", USER, "--password-file", pwfile,
                      "bob@example.org"])
    assert r.returncode == EX_CONFIG, r.stderr
    assert b"certificate" in r.stderr
    assert s.messages == []


def test_wrong_host_name_refused(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD},
                       san="DNS:mail.example.org") as s:
        r = sendmail(auth_args(s, pwfile) + ["bob@example.org"])
    assert r.returncode == EX_CONFIG, r.stderr
    assert s.messages == []


def test_starttls_missing_is_not_skipped(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), None) as s:
        r = sendmail(["--server", "127.0.0.1:%d" % s.port, "--starttls",
                      "--user", USER, "--password-file", pwfile, "-v",
                      "bob@example.org"])
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"STARTTLS" in r.stderr
    assert b"AUTH" not in r.stderr.split(b"STARTTLS")[-1]
    assert s.messages == []


def test_wrong_password(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, str(bad)) + ["bob@example.org"])
    assert r.returncode == EX_NOPERM, r.stderr
    assert s.messages == []


def test_server_down_is_tempfail(pwfile):
    port = smtpsink.free_port()
    r = sendmail(["--server", "127.0.0.1:%d" % port, "--starttls",
                  "--user", USER, "--password-file", pwfile,
                  "bob@example.org"])
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"cannot connect" in r.stderr


def test_unknown_host(pwfile):
    r = sendmail(["--server", "no-such-host.invalid:587", "--user", USER,
                  "--password-file", pwfile, "bob@example.org"])
    assert r.returncode == EX_NOHOST, r.stderr


@pytest.mark.parametrize("pipelining", [True, False])
def test_many_recipients(tmp_path, pwfile, pipelining):
    rcpts = ["r%d@example.org" % i for i in range(150)]
    refuse = {"r7@example.org": "450 4.2.1 try later",
              "r120@example.org": "550 5.1.1 gone"}
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}, refuse,
                       pipelining=pipelining) as s:
        r = sendmail(auth_args(s, pwfile) + rcpts + ["-v"])
    # one temporary failure: the caller should retry
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"r7@example.org: 450 4.2.1" in r.stderr
    assert b"r120@example.org: 550 5.1.1" in r.stderr
    want = [a for a in rcpts if a not in refuse]
    assert s.messages[0]["rcpts"] == want
    # pipelined: all RCPTs go out before the first reply is read
    trace = r.stderr.decode()
    first_reply = trace.index("S: 250 2.1.5")
    if pipelining:
        assert trace.index("C: RCPT TO:<r99@example.org>") < first_reply
    else:
        assert trace.index("C: RCPT TO:<r1@example.org>") > first_reply


def test_message_bytes(tmp_path, pwfile):
    body = (b"Subject: dots\n\n.starts with a dot\n..two\nbare\rcr\r\n"
            b"crlf\r\nlast line without end")
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile) + ["-i", "bob@example.org"],
                     data=body)
    assert r.returncode == 0, r.stderr
    got = s.messages[0]["data"]
    # every line ends in CRLF, dots arrive as written (stuffed on the wire,
    # unstuffed by the server), a From line was added
    assert got == (b"From: alice@example.org\r\nSubject: dots\r\n\r\n"
                   b".starts with a dot\r\n..two\r\nbare\r\ncr\r\n"
                   b"crlf\r\nlast line without end\r\n")


def test_lone_dot_ends_input_unless_i(tmp_path, pwfile):
    data = MSG + b".\nnot part of it\n"
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        assert sendmail(auth_args(s, pwfile) + ["bob@example.org"],
                        data=data).returncode == 0
        assert sendmail(auth_args(s, pwfile) + ["-oi", "bob@example.org"],
                        data=data).returncode == 0
    assert b"not part of it" not in s.messages[0]["data"]
    assert s.messages[1]["data"].endswith(b".\r\nnot part of it\r\n")


def test_t_reads_recipients_and_strips_bcc(tmp_path, pwfile):
    data = (b"From: Alice <alice@example.org>\n"
            b"To: Bob <bob@example.org>\n"
            b"Cc: carol@example.org\n"
            b"Bcc: dave@example.org,\n erin@example.org\n"
            b"Subject: t\n\nbody\n")
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        # an argument with a comma is two recipients, as for sendmail
        r = sendmail(auth_args(s, pwfile) +
                     ["-t", "frank@example.org, bob@example.org"],
                     data=data)
    assert r.returncode == 0, r.stderr
    m = s.messages[0]
    assert sorted(m["rcpts"]) == ["bob@example.org", "carol@example.org",
                                  "dave@example.org", "erin@example.org",
                                  "frank@example.org"]
    assert b"Bcc" not in m["data"] and b"dave" not in m["data"]
    assert b"erin" not in m["data"]


def test_t_without_recipients(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile) + ["-t"],
                     data=b"Subject: none\n\nx\n")
    assert r.returncode == EX_DATAERR, r.stderr
    assert s.messages == []


def test_eight_bit_body_declared(tmp_path, pwfile):
    data = "Subject: caf\u00e9\n\nna\u00efve\n".encode()
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile) + ["bob@example.org"], data=data)
    assert r.returncode == 0, r.stderr
    assert "BODY=8BITMIME" in s.messages[0]["mail_options"]


def test_large_message_streams(tmp_path, pwfile):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\n"
    data = b"Subject: big\n\n" + line * 60000  # ~4.4 MB
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile) + ["bob@example.org"], data=data)
    assert r.returncode == 0, r.stderr
    got = s.messages[0]["data"]
    assert got.endswith(line.replace(b"\n", b"\r\n") * 3)
    assert got.count(b"\r\n") == data.count(b"\n") + 1  # + From line


def test_command_injection_through_recipient(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(auth_args(s, pwfile) +
                     ["bob@example.org>\r\nRCPT TO:<evil@example.org",
                      "carol@example.org"])
    assert r.returncode != 0
    assert b"invalid recipient" in r.stderr
    assert s.messages[0]["rcpts"] == ["carol@example.org"]


def test_trace_levels_hide_secrets_and_data(tmp_path, pwfile):
    import base64
    secret = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                              PASSWORD.encode())
    body = b"Subject: s\n\nTOPSECRETBODY\n"
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        out = {}
        for level in ("trace", "traceauth", "tracedata"):
            r = sendmail(auth_args(s, pwfile) +
                         ["--trace", level, "bob@example.org"], data=body)
            assert r.returncode == 0, r.stderr
            out[level] = r.stderr
    assert b"C: AUTH PLAIN ***" in out["trace"]
    assert secret not in out["trace"]
    assert b"TOPSECRETBODY" not in out["trace"]
    assert b"C: ... (" in out["trace"]
    assert secret in out["traceauth"]
    assert b"TOPSECRETBODY" not in out["traceauth"]
    assert b"TOPSECRETBODY" in out["tracedata"]


def test_usage_errors(pwfile):
    assert sendmail(["bob@example.org"]).returncode == EX_USAGE
    assert sendmail(["--user", USER, "--password-file",
                     pwfile]).returncode == EX_USAGE
    assert sendmail(["--bogus"]).returncode == EX_USAGE
    r = sendmail(["--help"])
    assert r.returncode == 0 and b"--password-file" in r.stdout


def test_called_as_sendmail_reads_sendmail_conf(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        conf = tmp_path / "sendmail.conf"
        conf.write_text("# defaults for cron\n"
                        "--server 127.0.0.1:%d\n--starttls\n"
                        "--ca-file %s\n--user %s\n--password-file %s\n"
                        % (s.port, s.ca, USER, pwfile))
        link = tmp_path / "sendmail"
        os.symlink(MAILADM, link)
        # what cron runs
        r = subprocess.run(
            [str(link), "-FCronDaemon", "-i", "-B8BITMIME", "-oem",
             "bob@example.org"],
            input=b"Subject: cron\n\noutput\n", capture_output=True,
            timeout=30,
            env=dict(os.environ, POSTERN_SENDMAIL_CONF=str(conf)))
    assert r.returncode == 0, r.stderr
    m = s.messages[0]
    assert m["rcpts"] == ["bob@example.org"]
    assert m["data"].startswith(b"From: CronDaemon <alice@example.org>\r\n")


class Scripted:
    """A one-connection raw server: answers each line the client sends with
    the next scripted reply (bytes, sent as one write; None: hang up),
    after the greeting. For what no real server does on purpose."""

    def __init__(self, greeting, replies, hold=False, tls=None):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.greeting, self.replies, self.hold = greeting, replies, hold
        self.tls = tls
        self.got = []
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        c, _ = self.sock.accept()
        c.settimeout(20)
        if self.tls is not None:
            c = self.tls.wrap_socket(c, server_side=True)
        f = c.makefile("rb")
        try:
            if self.greeting is None:
                f.readline()  # never greet: wait for the client to give up
                return
            c.sendall(self.greeting)
            for rep in self.replies:
                line = f.readline()
                if not line:
                    return
                self.got.append(line)
                if rep is None:
                    return
                c.sendall(rep)
            if self.hold:
                while f.readline():
                    pass
        except OSError:
            pass
        finally:
            c.close()
            self.sock.close()


EHLO = (b"250-test\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n"
        b"250 ENHANCEDSTATUSCODES\r\n")


def scripted_args(srv, pwfile, *extra):
    return ["--server", "127.0.0.1:%d" % srv.port, "--starttls",
            "--user", USER, "--password-file", pwfile, "--timeout", "2",
            "bob@example.org"] + list(extra)


def test_silent_server_times_out(pwfile):
    srv = Scripted(None, [])
    r = sendmail(scripted_args(srv, pwfile))
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"no answer from the server" in r.stderr


def test_starttls_response_injection_refused(pwfile):
    # the 220 to STARTTLS arrives with a forged reply behind it in the
    # same packet: that reply must never be read as if TLS protected it
    srv = Scripted(b"220 test\r\n",
                   [EHLO, b"220 go ahead\r\n250 2.0.0 injected\r\n"],
                   hold=True)
    r = sendmail(scripted_args(srv, pwfile))
    assert r.returncode == 76, r.stderr  # EX_PROTOCOL
    assert b"before the TLS handshake" in r.stderr
    assert not any(b"AUTH" in l for l in srv.got)


def test_overlong_reply_line(pwfile):
    srv = Scripted(b"220 " + b"x" * 5000 + b"\r\n", [], hold=True)
    r = sendmail(scripted_args(srv, pwfile))
    assert r.returncode == 76, r.stderr
    assert b"longer than" in r.stderr


def test_malformed_reply(pwfile):
    srv = Scripted(b"220 test\r\n", [b"250-test\r\n251 mixed codes\r\n"],
                   hold=True)
    r = sendmail(scripted_args(srv, pwfile))
    assert r.returncode == 76, r.stderr
    assert b"reply code changes" in r.stderr


def test_greeting_refused(pwfile):
    srv = Scripted(b"554 5.3.2 go away\r\n", [b"221 bye\r\n"])
    r = sendmail(scripted_args(srv, pwfile))
    assert r.returncode == 69, r.stderr  # EX_UNAVAILABLE
    assert b"554 5.3.2 go away" in r.stderr


def server_tls(tmp_path):
    """(CA file, server context) for a Scripted server with implicit TLS."""
    import ssl
    ca, cert, key = smtpsink.make_ca_and_cert(str(tmp_path))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ca, ctx


def test_connection_lost_in_data(tmp_path, pwfile):
    # implicit TLS; the server hangs up after the first line of the
    # message: the recipient gets a temporary failure, never a success
    ca, ctx = server_tls(tmp_path)
    srv = Scripted(b"220 test\r\n",
                   [b"250-test\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n",
                    b"235 2.7.0 ok\r\n", b"250 2.1.0 ok\r\n",
                    b"250 2.1.5 ok\r\n", b"354 go\r\n", None],
                   tls=ctx)
    r = sendmail(["--server", "127.0.0.1:%d" % srv.port, "--tls",
                  "--ca-file", ca, "--user", USER, "--password-file",
                  pwfile, "--timeout", "5", "bob@example.org"])
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b"bob@example.org: 421 4.4.2" in r.stderr
    assert [l[:4] for l in srv.got] == [b"EHLO", b"AUTH", b"MAIL", b"RCPT",
                                        b"DATA", b"From"]


def test_unreadable_ca_file(tmp_path, pwfile):
    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        r = sendmail(["--server", "127.0.0.1:%d" % s.port, "--starttls",
                      "--ca-file", str(tmp_path / "missing.pem"),
                      "--user", USER, "--password-file", pwfile,
                      "bob@example.org"])
    assert r.returncode == EX_CONFIG, r.stderr
    assert b"CA file" in r.stderr
    assert s.messages == []


def test_memory_does_not_grow_with_the_message(tmp_path, pwfile):
    # the message streams from a spool file through the encoder: the peak
    # RSS (VmHWM, read while the client waits for the reply to the data)
    # for 8.8 MB is that for 64 KB plus noise, not plus 8.8 MB
    import threading
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"\n"
    # under ASan freed memory sits in quarantine and never returns to use,
    # so GnuTLS's per-record buffers would look like growth: no quarantine
    env = dict(os.environ, POSTERN_SENDMAIL_CONF="/nonexistent")
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + \
        "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"

    def peak(s, n):
        s.hold, s.held = threading.Event(), threading.Event()
        p = subprocess.Popen(
            [MAILADM, "sendmail"] + auth_args(s, pwfile) + ["b@x.example"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        p.stdin.write(b"Subject: rss\n\n")
        for _ in range(n // 100):
            p.stdin.write(line * 100)
        p.stdin.close()
        assert s.held.wait(60)
        with open("/proc/%d/status" % p.pid) as f:
            hwm = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")]
        s.hold.set()
        assert p.wait(60) == 0
        return hwm[0]  # KiB

    with smtpsink.Sink(str(tmp_path), "starttls", {USER: PASSWORD}) as s:
        small = peak(s, 900)
        big = peak(s, 120000)
    assert len(s.messages) == 2
    assert len(s.messages[1]["data"]) > 8000000
    assert big - small < 2048, (small, big)


def test_connection_lost_between_rcpt_replies(tmp_path, pwfile):
    # MAIL answered, then the server hangs up before the RCPT replies:
    # nothing may be reported as accepted
    ca, ctx = server_tls(tmp_path)
    srv = Scripted(b"220 test\r\n",
                   [b"250-test\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n",
                    b"235 2.7.0 ok\r\n", b"250 2.1.0 ok\r\n", None],
                   tls=ctx)
    r = sendmail(["--server", "127.0.0.1:%d" % srv.port, "--tls",
                  "--ca-file", ca, "--user", USER, "--password-file",
                  pwfile, "--timeout", "5", "bob@example.org",
                  "carol@example.org"])
    assert r.returncode == EX_TEMPFAIL, r.stderr
    assert b": 421 4.4.2" in r.stderr
    assert b" 250 " not in r.stderr
