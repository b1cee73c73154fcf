"""Certificates for a test, made with the openssl command line: a CA, and
certificates it signs for 127.0.0.1 / localhost (servers and clients)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr}")


@dataclass
class Cert:
    cert: Path  # PEM certificate
    key: Path   # PEM private key, unencrypted PKCS#8
    pem: Path   # key + certificate in one file (a PEM keystore, Kafka's format)


def make_ca(directory: Path, name: str = "ca") -> Cert:
    """A self-signed CA certificate, CN=<name> test CA."""
    directory.mkdir(parents=True, exist_ok=True)
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.name,
             cwd=directory)
    _openssl("req", "-x509", "-new", "-key", key.name, "-days", "2", "-subj", f"/CN={name} test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", cert.name, cwd=directory)
    return Cert(cert, key, cert)


def make_cert(ca: Cert, cn: str) -> Cert:
    """A certificate CN=<cn> for 127.0.0.1 and localhost, signed by ca, for a
    server and a client (serverAuth, clientAuth), in ca's directory."""
    d = ca.cert.parent
    key, csr, cert, pem = (d / f"{cn}.key", d / f"{cn}.csr", d / f"{cn}.pem", d / f"{cn}-keystore.pem")
    ext = d / f"{cn}.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key.name,
             cwd=d)
    _openssl("req", "-new", "-key", key.name, "-subj", f"/CN={cn}", "-out", csr.name, cwd=d)
    _openssl("x509", "-req", "-in", csr.name, "-CA", ca.cert.name, "-CAkey", ca.key.name,
             "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", cert.name, cwd=d)
    pem.write_text(key.read_text() + cert.read_text())
    for p in (key, pem):
        p.chmod(0o600)
    return Cert(cert, key, pem)
