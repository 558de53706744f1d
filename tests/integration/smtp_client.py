"""smtp_client - a raw SMTP client with STARTTLS, for the edge tests.

    from smtp_client import Client, tls_context

Client(port) connects to 127.0.0.1 and reads the banner; send() writes
bytes as given (pipelining and injection tests), reply() reads one whole
reply as (code, text), starttls() wraps the socket after a 220.
tls_context() is a client context that does not verify the server's
self-signed certificate. Standard library only.
"""

import socket
import ssl


def tls_context(minimum=None, maximum=None, ciphers=None):
    """A client TLS context without certificate checks."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


class Client:
    """A raw SMTP client: send bytes, read whole replies."""

    def __init__(self, port, timeout=60, implicit_tls=False, context=None,
                 session=None):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        if implicit_tls:
            self.sock = (context or tls_context()).wrap_socket(
                self.sock, session=session)
        self.banner = self.reply()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """(code, text) of one reply; text keeps every line."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("connection closed; got %r" % (lines,))
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else
                  line + b"\r\n")
        return self.reply()

    def ehlo_keywords(self, name="client.test"):
        """EHLO; the set of upper-case keywords (first words) offered."""
        code, text = self.cmd("EHLO " + name)
        if code != 250:
            raise AssertionError("EHLO: %d %s" % (code, text))
        return {l[4:].split(" ")[0].upper() for l in text.splitlines()[1:]}

    def starttls(self, context=None, session=None):
        """STARTTLS and the handshake; the SSLSocket."""
        code, text = self.cmd("STARTTLS")
        if code != 220:
            raise AssertionError("STARTTLS: %d %s" % (code, text))
        return self.handshake(context, session)

    def handshake(self, context=None, session=None):
        """Wrap the socket (after a 220 already read)."""
        if self.buf:
            raise AssertionError("data after the 220: %r" % self.buf)
        self.sock = (context or tls_context()).wrap_socket(
            self.sock, session=session)
        return self.sock

    def closed(self):
        """True when the server has closed the connection."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def maildir_messages(inst, user, marker):
    """Contents of the messages in user's Maildir that hold marker."""
    import os
    local, domain = user.split("@")
    base = inst.path("mail", domain, local)
    found = []
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            with open(os.path.join(d, n), "rb") as f:
                data = f.read()
            if marker.encode() in data:
                found.append(data)
    return found
