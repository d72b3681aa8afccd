"""Debian's Postfix as the ISP's mail exchanger, run by the test suite: its
own main.cf/master.cf, queue and data directories in a temp dir, started
in the foreground (`postfix -c DIR start-fg`) and stopped at the end; the
system's Postfix service is never used. Mail for `domains` goes to
`virtual_transport = lmtp:unix:SOCKET`."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import helpers

POSTFIX = "/usr/sbin/postfix"

MASTER_CF = """\
%(listen)s inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def need_postfix():
    """Postfix must be installed (dev.sh TEST_PKGS) and we must be root to
    run its master; outside CI a missing prerequisite is a skip."""
    why = None
    if not os.access(POSTFIX, os.X_OK):
        why = "postfix is not installed (apt-get install postfix)"
    elif os.geteuid() != 0:
        why = "Postfix's master must be started as root"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)


class PostfixMX:
    def __init__(self, lmtp_socket, domains):
        need_postfix()
        self.dir = tempfile.mkdtemp(prefix="postern-postfix-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.port = _free_port()
        self.maillog = os.path.join(self.dir, "maillog")
        os.mkdir(os.path.join(self.dir, "queue"))
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        shutil.chown(data, "postfix")
        main_cf = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.postern.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "virtual_mailbox_domains": " ".join(domains),
            "virtual_transport": "lmtp:unix:%s" % lmtp_socket,
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.dir,
            "smtputf8_enable": "yes",
            # one LMTP connection carries many recipients (RFC 2033)
            "lmtp_destination_recipient_limit": "50",
            "biff": "no",
        }
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in main_cf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(MASTER_CF % {"listen": "127.0.0.1:%d" % self.port})
        self.proc = subprocess.Popen(
            [POSTFIX, "-c", self.dir, "start-fg"], stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.dir, "start.log"), "wb"),
            stderr=subprocess.STDOUT)
        try:
            helpers.wait_for(self._listening, timeout=30,
                             what="Postfix smtpd on %d" % self.port)
        except BaseException:
            self.stop()
            raise

    def _listening(self):
        if self.proc.poll() is not None:
            pytest.fail("postfix exited with %d; log:\n%s"
                        % (self.proc.returncode, self.log()), pytrace=False)
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1):
                return True
        except OSError:
            return False

    def log(self):
        try:
            with open(self.maillog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def statuses(self):
        """(recipient, status, reply) of every lmtp delivery attempt."""
        out = []
        for line in self.log().splitlines():
            if " postfix/lmtp[" not in line or " to=<" not in line:
                continue
            to = line.split(" to=<", 1)[1].split(">", 1)[0]
            status = line.split(" status=", 1)[1].split(" ", 1)[0]
            reply = line.split(" (", 1)[1].rsplit(")", 1)[0] \
                if " (" in line else ""
            out.append((to, status, reply))
        return out

    def stop(self):
        subprocess.run([POSTFIX, "-c", self.dir, "stop"],
                       capture_output=True, timeout=30)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
