"""One LMTP delivery over the instance's lmtp_socket, for tests that need
mail in a mailbox (test_lmtp.py tests LMTP itself with its own client)."""

import socket

import helpers


def deliver(instance, rcpt, body=b"body\r\n"):
    """MAIL, RCPT rcpt, DATA body, QUIT; returns every reply byte."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(helpers.TIMEOUT)
    s.connect(instance.settings["lmtp_socket"])
    s.sendall(b"LHLO t\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<%s>\r\n"
              b"DATA\r\n" % rcpt.encode())
    data = b""
    while b"\r\n354 " not in data and b"\r\n554 " not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    if b"\r\n354 " in data:
        s.sendall(b"Subject: s\r\n\r\n" + body + b".\r\n")
    s.sendall(b"QUIT\r\n")
    while b"221 " not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    return data
