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
        r = sendmail(auth_args(s, pwfile) + ["-t", "frank@example.org"],
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
