"""A Mosquitto broker that requires TLS and a password: CA and server certificate generated here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.mosquitto import Broker, mosquitto_binary
from tests.support.ports import free_port, wait_listening


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, cn: str, now: dt.datetime, *, san: bool
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``cn`` signed by the CA (with 127.0.0.1 as its address when ``san``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(ca_key, hashes.SHA256()), key


def make_certificates(workdir: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for a server at 127.0.0.1, valid for a day; also
    client.pem/client.key for a client named ``collector`` (for ``require_certificate``)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "minewatch test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, cn, san in (("server", "127.0.0.1", True), ("client", "collector", False)):
        cert, key = _issue(ca_key, ca_name, cn, now, san=san)
        (workdir / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, workdir / f"{name}.key")
    return workdir / "ca.pem", workdir / "server.pem", workdir / "server.key"


def start_secure_mosquitto(
    workdir: Path, user: str, password: str, *, client_certificates: bool = False
) -> tuple[Broker, Path]:
    """A broker on a free port that only accepts TLS connections from ``user``/``password`` or, with
    ``client_certificates``, from clients presenting a certificate of its CA (the certificate's CN
    is the user name; ``tls/client.pem`` and ``tls/client.key`` are one for ``collector``)."""
    ca, cert, key = make_certificates(workdir / "tls")
    pwfile = workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), user, password], check=True)
    auth = (
        "require_certificate true\nuse_identity_as_username true\n"
        if client_certificates
        else f"password_file {pwfile}\n"
    )
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        # as root, mosquitto would drop to user 'mosquitto' and could not read these temp files
        f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
        "allow_anonymous false\n"
        f"{auth}"
        "persistence true\n"
        f"persistence_location {workdir}/\n"
        "log_dest stderr\nlog_type error\n"
    )
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "mosquitto.log").open("wb"),
    )
    wait_listening(port)
    return Broker("127.0.0.1", port, proc, workdir), ca
