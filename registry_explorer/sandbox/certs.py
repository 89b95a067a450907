"""Generate test certificates with the ``openssl`` CLI.

All functions are idempotent: if the files already exist in ``directory`` they
are reused.  Nothing here needs a Python crypto package.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TLSFiles", "TokenSigningFiles", "make_tls_certs", "make_token_signing_key"]


@dataclass(frozen=True)
class TLSFiles:
    """Paths of a test CA and a server certificate signed by it."""
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class TokenSigningFiles:
    """Paths of a token signing key and its certificate."""
    key: Path
    cert: Path


def _openssl(*args: str, cwd: Path | None = None) -> None:
    proc = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
        )


def make_tls_certs(directory: Path | str) -> TLSFiles:
    """Create a self-signed CA and a server cert for 127.0.0.1/localhost."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TLSFiles(
        ca_cert=d / "ca.crt",
        ca_key=d / "ca.key",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
    )
    if all(p.exists() for p in (files.ca_cert, files.ca_key, files.server_cert, files.server_key)):
        return files

    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(files.ca_key), "-out", str(files.ca_cert),
        "-days", "3650", "-sha256", "-subj", "/CN=registry-explorer test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", "subjectKeyIdentifier=hash",
    )
    csr = d / "server.csr"
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(files.server_key), "-out", str(csr),
        "-subj", "/CN=localhost",
    )
    ext = d / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(files.ca_cert), "-CAkey", str(files.ca_key),
        "-CAcreateserial", "-out", str(files.server_cert), "-days", "3650", "-sha256",
        "-extfile", str(ext),
    )
    csr.unlink(missing_ok=True)
    return files


def make_token_signing_key(directory: Path | str) -> TokenSigningFiles:
    """Create an EC P-256 key and a self-signed cert for signing ES256 tokens."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    files = TokenSigningFiles(key=d / "token-signing.key", cert=d / "token-signing.crt")
    if files.key.exists() and files.cert.exists():
        return files
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(files.key), "-out", str(files.cert),
        "-days", "3650", "-sha256", "-subj", "/CN=registry-explorer token signer",
    )
    return files
