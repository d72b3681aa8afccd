"""The OpenMetrics endpoint (metrics_listen, GET /metrics) and `mailadm
stats`: the exposition is parsed (not grepped) and its counters must move
as connections, logins and deliveries happen."""

import json
import os
import re
import socket
import subprocess
import tempfile

import pytest

import helpers
from imapa import users_fixture
from lmtpc import deliver


def fresh_socket_path():
    d = tempfile.mkdtemp(prefix="postern-metrics-", dir="/tmp")
    os.chmod(d, 0o755)
    return os.path.join(d, "metrics.sock")


U, P = "metrics-u@example.test", "metrics-pw-1"
POSTERN_CONF = {"metrics_listen": fresh_socket_path()}

users = users_fixture((U, P))

_SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text):
    """OpenMetrics text -> {(name, ((label, value), ...)): number}.
    Checks the framing: # TYPE before a family's samples, counters'
    samples end in _total, the exposition ends with '# EOF'."""
    assert text.endswith("# EOF\n"), text[-200:]
    lines = text[:-len("# EOF\n")].splitlines()
    types, out = {}, {}
    for line in lines:
        if line.startswith("# TYPE "):
            _, _, fam, typ = line.split(" ", 3)
            assert typ in ("counter", "gauge"), line
            assert fam not in types, "family declared twice: " + fam
            types[fam] = typ
            continue
        if line.startswith("# HELP "):
            continue
        assert not line.startswith("#"), line
        m = _SAMPLE.match(line)
        assert m, "bad sample line: %r" % line
        name, labels, value = m.groups()
        fam = name[:-len("_total")] if name.endswith("_total") else name
        assert fam in types, "sample before its TYPE: " + line
        if types[fam] == "counter":
            assert name.endswith("_total"), line
        pairs = ()
        if labels:
            pos, pairs = 0, []
            while pos < len(labels):
                lm = _LABEL.match(labels, pos)
                assert lm, "bad labels: %r" % labels
                pairs.append((lm.group(1), lm.group(2)))
                pos = lm.end()
            pairs = tuple(pairs)
        key = (name, pairs)
        assert key not in out, "duplicate sample " + line
        out[key] = float(value)
    return out


def http_get(instance, path="/metrics", raw=None):
    where = instance.settings["metrics_listen"]
    if where.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(helpers.TIMEOUT)
        s.connect(where)
    else:
        host, _, port = where.rpartition(":")
        s = socket.create_connection((host, int(port)), helpers.TIMEOUT)
    s.sendall(raw or ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(l.split(": ", 1) for l in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return status, headers, body.decode()


def scrape(instance):
    status, headers, body = http_get(instance)
    assert status == 200
    assert headers["Content-Type"].startswith(
        "application/openmetrics-text; version=1.0.0"), headers
    return parse(body)


def v(m, name, **labels):
    return m[(name, tuple(labels.items()))]


def test_counters_move(instance):
    m0 = scrape(instance)
    c = instance.login(U, P)
    m1 = scrape(instance)
    assert v(m1, "postern_logins_total", mechanism="PLAIN",
             result="success") == v(m0, "postern_logins_total",
                                    mechanism="PLAIN", result="success") + 1
    assert v(m1, "postern_accepted_connections_total", service="imap") > \
        v(m0, "postern_accepted_connections_total", service="imap")
    assert v(m1, "postern_connections", state="imap") >= 1
    assert v(m1, "postern_workers") >= 1
    assert v(m1, "postern_login_processes") >= 2
    c.close()
    bad = instance.imaps()
    bad.command("x", "LOGIN %s wrong-password" % U)
    bad.close()
    m2 = scrape(instance)
    assert v(m2, "postern_logins_total", mechanism="PLAIN",
             result="failure") == v(m1, "postern_logins_total",
                                    mechanism="PLAIN", result="failure") + 1
    assert v(m2, "postern_bytes_total", direction="imap_out") > \
        v(m0, "postern_bytes_total", direction="imap_out")
    out = deliver(instance, U)
    assert b"250 2.0.0 <%s> Delivered" % U.encode() in out, out
    deliver(instance, "nobody@example.test")
    m3 = scrape(instance)
    assert v(m3, "postern_deliveries_total", result="delivered") == \
        v(m2, "postern_deliveries_total", result="delivered") + 1
    assert v(m3, "postern_deliveries_total", result="refused") == \
        v(m2, "postern_deliveries_total", result="refused") + 1
    assert v(m3, "postern_bytes_total", direction="delivered") > \
        v(m2, "postern_bytes_total", direction="delivered")
    assert v(m3, "postern_accepted_connections_total", service="lmtp") == \
        v(m2, "postern_accepted_connections_total", service="lmtp") + 2
    # the session gauge comes back down once the worker has seen the close
    helpers.wait_for(lambda: v(scrape(instance), "postern_connections",
                               state="imap") == 0,
                     what="imap session gauge back to 0")


def test_http_errors(instance):
    assert http_get(instance, "/other")[0] == 404
    assert http_get(instance, raw=b"POST /metrics HTTP/1.1\r\n\r\n")[0] == 405
    assert http_get(instance, raw=b"GET /metrics HTTP/1.1\r\n" +
                    b"X: " + b"a" * 5000 + b"\r\n\r\n")[0] == 400


def test_mailadm_stats(instance):
    r = instance.mailadm("stats")
    assert r.returncode == 0, r.stderr
    text = parse(r.stdout)
    assert ("postern_workers", ()) in text
    r = instance.mailadm("--json", "stats")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    web = scrape(instance)
    assert j["postern_deliveries"]["delivered"] == \
        v(web, "postern_deliveries_total", result="delivered")
    assert j["postern_logins"]["PLAIN/success"] >= 1


def test_tcp_endpoint():
    """metrics_listen as host:port; counters start at zero in a new
    instance and the login process gauge matches the pools."""
    from conftest import Instance, _finish, _live
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    inst = Instance({"metrics_listen": "127.0.0.1:%d" % port})
    try:
        inst.start()
    except BaseException:
        inst.stop()
        inst.cleanup()
        raise
    _live.append(inst)
    try:
        assert inst.settings["metrics_listen"] == "127.0.0.1:%d" % port
        m = helpers.wait_for(lambda: scrape(inst), what="metrics over TCP")
        assert v(m, "postern_deliveries_total", result="delivered") == 0
        pools = int(inst.settings["login_processes"]) * 2
        helpers.wait_for(lambda: v(scrape(inst), "postern_login_processes")
                         == pools, what="both login pools counted")
    finally:
        _finish(inst)
