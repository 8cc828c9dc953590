"""A throw-away certificate authority, made with the `openssl` command, for tests that need real TLS."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
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


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
