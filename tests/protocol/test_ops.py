"""Running Postern in production: `postern --check-config`, the systemd
unit (checked by systemd-analyze verify), the Type=notify protocol
(READY/RELOADING/STOPPING datagrams on $NOTIFY_SOCKET) and journald-style
log lines when stderr is the journal's stream."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

import helpers
from conftest import Instance, _finish, _live
from helpers import POSTERN

UNIT = os.path.join(helpers.BUILD, "systemd", "postern.service")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or \
    "/usr/bin/systemd-analyze"


def check_config(path):
    return subprocess.run([POSTERN, "-c", path, "--check-config"],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def conf_copy(instance):
    d = tempfile.mkdtemp(prefix="postern-conf-", dir="/tmp")
    path = os.path.join(d, "postern.conf")
    shutil.copy(instance.conf, path)
    yield path
    shutil.rmtree(d, ignore_errors=True)


def test_check_config_ok(instance):
    r = check_config(instance.conf)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "%s: configuration OK" % instance.conf


def test_check_config_names_file_and_line(conf_copy):
    with open(conf_copy) as f:
        n = len(f.read().splitlines())
    with open(conf_copy, "a") as f:
        f.write("# a comment\nlmtp_max_recipients = lots\n")
    r = check_config(conf_copy)
    assert r.returncode == 1
    assert r.stderr.strip() == ("postern: %s:%d: lmtp_max_recipients: "
                                "must be a whole number" % (conf_copy, n + 2))


def test_check_config_unknown_key(conf_copy):
    with open(conf_copy, "a") as f:
        f.write("lmtp_sockett = /x\n")
    r = check_config(conf_copy)
    assert r.returncode == 1
    assert re.fullmatch(r"postern: %s:\d+: lmtp_sockett: unknown key"
                        % re.escape(conf_copy), r.stderr.strip()), r.stderr


def test_check_config_tls_files(instance, conf_copy):
    instance.set_conf("tls_cert", "/nonexistent/cert.pem", path=conf_copy)
    r = check_config(conf_copy)
    assert r.returncode == 1
    assert r.stderr.startswith("postern: %s: tls_cert" % conf_copy), r.stderr
    assert "/nonexistent/cert.pem" in r.stderr


def test_check_config_missing_file():
    r = check_config("/nonexistent/postern.conf")
    assert r.returncode == 1
    assert "/nonexistent/postern.conf" in r.stderr


def test_systemd_unit_verifies(tmp_path):
    """The unit as meson installs it, with ExecStart pointing at this
    build's binary (verify insists the command exists)."""
    if not os.access(SYSTEMD_ANALYZE, os.X_OK):
        pytest.fail("systemd-analyze missing (dev.sh TEST_PKGS: systemd)",
                    pytrace=False)
    with open(UNIT) as f:
        text = f.read()
    m = re.search(r"^ExecStart=(\S+)/postern ", text, re.M)
    assert m, text
    assert re.search(r"^Type=notify$", text, re.M)
    assert re.search(r"^ExecReload=/bin/kill -HUP \$MAINPID$", text, re.M)
    unit = tmp_path / "postern.service"
    text = text.replace(m.group(1) + "/postern", POSTERN)
    unit.write_text(text)
    r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no",
                        "--generators=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    mine = [l for l in (r.stdout + r.stderr).splitlines()
            if "postern.service" in l]
    assert r.returncode == 0 and not mine, r.stdout + r.stderr
    # a broken unit is caught: the check can fail
    unit.write_text(text.replace("Type=notify", "Type=notifyy"))
    r = subprocess.run([SYSTEMD_ANALYZE, "verify", "--man=no",
                        "--generators=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    assert "service type" in (r.stdout + r.stderr).lower(), r.stderr


def _start_with_env(env):
    inst = Instance({})
    old = {k: os.environ.get(k) for k in env}
    try:
        os.environ.update({k: v for k, v in env.items()
                           if not callable(v)})
        for k, v in env.items():
            if callable(v):
                os.environ[k] = v(inst)
        inst.start()
    except BaseException:
        inst.stop()
        inst.cleanup()
        raise
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _live.append(inst)
    return inst


def test_sd_notify(tmp_path):
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(helpers.TIMEOUT * 2)
    inst = _start_with_env({"NOTIFY_SOCKET": path})
    try:
        assert s.recv(4096) == b"READY=1"
        inst.master.send_signal(signal.SIGHUP)
        msg = s.recv(4096).decode()
        assert re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=\d+", msg), msg
        assert s.recv(4096) == b"READY=1"
    finally:
        _finish(inst)
    assert s.recv(4096) == b"STOPPING=1"
    s.close()


def test_journald_lines():
    """With stderr being the journal's stream ($JOURNAL_STREAM names its
    device:inode) every line of every process starts with its syslog
    priority and has no time stamp of its own."""
    def stream(inst):
        open(inst.log_path, "wb").close()
        st = os.stat(inst.log_path)
        return "%d:%d" % (st.st_dev, st.st_ino)
    inst = _start_with_env({"JOURNAL_STREAM": stream})
    try:
        c = inst.imaps()
        c.close()
        _live.remove(inst)
        inst.stop()
        lines = inst.log.splitlines()
    finally:
        inst.cleanup()
    assert lines
    procs = set()
    for line in lines:
        if line.startswith("==") or not line.strip():
            continue  # a sanitizer's own report (test build)
        m = re.match(r"<([2-7])>([a-z-]+)\[\d+\]: (debug|info|warn|error|"
                     r"fatal|panic): ", line)
        assert m, line
        prio = {"debug": "7", "info": "6", "warn": "4", "error": "3",
                "fatal": "2", "panic": "2"}[m.group(3)]
        assert m.group(1) == prio, line
        procs.add(m.group(2))
    assert {"postern", "postern-auth", "imap-login", "lmtp"} <= procs, procs
