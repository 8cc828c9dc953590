"""A throw-away certificate authority, made with the `openssl` command, for tests that need real TLS."""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")
KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # fast to generate


def openssl(*args: str | Path) -> None:
    subprocess.run([OPENSSL, *map(str, args)], check=True, capture_output=True, timeout=30)


@dataclass(frozen=True)
class CertificateAuthority:
    cert: Path  # what clients trust (GATEWAY_CA_BUNDLE, requests' verify=)
    key: Path

    @classmethod
    def create(cls, directory: Path) -> CertificateAuthority:
        cert, key = directory / "ca.pem", directory / "ca.key"
        openssl(
            "req",
            "-x509",
            *KEY,
            "-keyout",
            key,
            "-out",
            cert,
            "-days",
            "2",
            "-subj",
            "/CN=Gateway test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        return cls(cert, key)

    def issue(self, *names: str) -> tuple[Path, Path]:
        """A server certificate and key signed by this CA for these host names or IP addresses."""
        directory = self.cert.parent
        stem = directory / names[0].replace(".", "_").replace(":", "_")
        cert, key, request, extensions = (stem.with_suffix(s) for s in (".pem", ".key", ".csr", ".ext"))
        alt = ",".join(f"IP:{n}" if _is_ip(n) else f"DNS:{n}" for n in names)
        extensions.write_text(
            f"subjectAltName={alt}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        openssl("req", *KEY, "-keyout", key, "-out", request, "-subj", f"/CN={names[0]}")
        openssl(
            "x509",
            "-req",
            "-in",
            request,
            "-CA",
            self.cert,
            "-CAkey",
            self.key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            extensions,
            "-out",
            cert,
        )
        return cert, key

    def server_context(self, *names: str) -> ssl.SSLContext:
        """What a TLS server presenting a certificate of this CA for `names` wraps its sockets with."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.issue(*names))
        return context


class TlsFront:
    """TLS on a loopback port in front of a plain TCP service (an https:// proxy made of tinyproxy)."""

    def __init__(self, context: ssl.SSLContext, target_port: int) -> None:
        self.context, self.target_port = context, target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener closed: stop()
            while True:
                connection, _ = self.listener.accept()
                threading.Thread(target=self._relay, args=(connection,), daemon=True).start()

    def _relay(self, connection: socket.socket) -> None:
        """Bytes both ways until either side closes; one thread per connection, no concurrent use of a socket."""
        with contextlib.suppress(OSError):
            front = self.context.wrap_socket(connection, server_side=True)
            with front, socket.create_connection(("127.0.0.1", self.target_port)) as back:
                selector = selectors.DefaultSelector()
                selector.register(front, selectors.EVENT_READ, back)
                selector.register(back, selectors.EVENT_READ, front)
                while True:
                    for key, _ in selector.select():
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
                        while key.fileobj is front and front.pending():  # decrypted bytes select() cannot see
                            back.sendall(front.recv(65536))
        connection.close()

    def stop(self) -> None:
        self.listener.close()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
