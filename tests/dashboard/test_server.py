"""Serving: loopback by default, non-loopback only with TLS and a users file, waitress over
HTTP (not Flask's development server), gunicorn over TLS with a self-signed certificate;
and the users command."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from htflow.cli.main import app as cli
from htflow.dashboard import check_bind
from htflow.exceptions import InputError
from tests.dashboard.conftest import ADMIN

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USERS = ("dashboard", "users")
AUTH = "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()


def test_check_bind(tmp_path: Path) -> None:
    users, cert, key = (tmp_path / n for n in ("users.yaml", "cert.pem", "key.pem"))
    for path in (users, cert, key):
        path.write_text("x")
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", users, cert, key)
    with pytest.raises(InputError, match="without TLS"):
        check_bind("0.0.0.0", users)
    with pytest.raises(InputError, match="without a users file"):
        check_bind("192.168.1.5", None, cert, key)  # the legacy password is not enough
    with pytest.raises(InputError, match="both --cert and --key"):
        check_bind("127.0.0.1", users, cert, None)
    with pytest.raises(InputError, match="not an IP address"):
        check_bind("example.org", users, cert, key)
    with pytest.raises(InputError, match="no such file"):
        check_bind("0.0.0.0", users, cert, tmp_path / "absent.pem")


def test_cli_refuses_a_public_bind_without_tls_in_one_line(
    users_file: Path, campaign_db: str
) -> None:
    result = CliRunner().invoke(
        cli, ["dashboard", "--host", "0.0.0.0", "--users", str(users_file), "--db", campaign_db]
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("htflow: error: refusing to serve")


def test_cli_refuses_to_start_without_users(campaign_db: str) -> None:
    result = CliRunner().invoke(cli, ["dashboard", "--db", campaign_db])
    assert result.exit_code == 2
    assert "no dashboard users" in result.output


def test_users_command_writes_hashes_readable_by_the_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "u" / "users.yaml"
    runner = CliRunner()
    added = runner.invoke(
        cli,
        [*USERS, "add", "eve", "--role", "admin", "--users", str(path), "--password-stdin"],
        input="correct horse\n",
    )
    assert added.exit_code == 0, added.output
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert "correct horse" not in text and "scrypt:" in text
    listed = runner.invoke(cli, ["dashboard", "users", "list", "--users", str(path)])
    assert listed.output.split() == ["eve", "admin"]
    short = runner.invoke(
        cli,
        ["dashboard", "users", "add", "bob", "--users", str(path), "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 2 and "too short" in short.output
    role = runner.invoke(
        cli,
        [*USERS, "add", "bob", "--role", "root", "--users", str(path), "--password-stdin"],
        input="long enough pw\n",
    )
    assert role.exit_code == 2 and "role 'root'" in role.output
    removed = runner.invoke(cli, ["dashboard", "users", "remove", "eve", "--users", str(path)])
    assert removed.exit_code == 0
    assert runner.invoke(
        cli, ["dashboard", "users", "list", "--users", str(path)]
    ).output.startswith("no users")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTFLOW_")}
    env.update(
        HTFLOW_HOME=str(tmp_path / "home"),
        HTFLOW_CONFIG_FILE=str(tmp_path / "absent.yaml"),
        PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
    )
    argv = [sys.executable, "-c", "from htflow.cli.main import main; main()", "dashboard", *args]
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def stopper() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for(port: int, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the dashboard did not listen on {port}: {log.read_text()}")


def test_waitress_serves_plain_http_on_loopback(
    tmp_path: Path, users_file: Path, campaign_db: str, stopper: list[subprocess.Popen[str]]
) -> None:
    port = _free_port()
    proc = _serve(tmp_path, "--port", str(port), "--users", str(users_file), "--db", campaign_db)
    stopper.append(proc)
    _wait_for(port, proc, tmp_path / "server.log")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/api/campaigns")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 401
    assert answer.getheader("Server") == "waitress"
    conn.request("GET", "/api/campaign/alpha/counts", headers={"Authorization": AUTH})
    answer = conn.getresponse()
    assert answer.status == 200 and b'"completed":2' in answer.read().replace(b" ", b"")
    log = (tmp_path / "server.log").read_text()
    assert f"htflow dashboard on http://127.0.0.1:{port}" in log
    assert "development server" not in log and "production deployment" not in log


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "htflow test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate(
    tmp_path: Path, users_file: Path, campaign_db: str, stopper: list[subprocess.Popen[str]]
) -> None:
    cert, key = _self_signed(tmp_path)
    port = _free_port()
    proc = _serve(
        tmp_path,
        "--port",
        str(port),
        "--users",
        str(users_file),
        "--db",
        campaign_db,
        "--cert",
        str(cert),
        "--key",
        str(key),
    )
    stopper.append(proc)
    _wait_for(port, proc, tmp_path / "server.log")
    context = ssl.create_default_context(cafile=str(cert))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    conn.request("GET", "/campaign/alpha")
    answer = conn.getresponse()
    answer.read()
    assert answer.status == 401
    conn.request("GET", "/login")
    login_page = conn.getresponse()
    html = login_page.read().decode()
    cookie = login_page.getheader("Set-Cookie") or ""
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    body = f"username={ADMIN[0]}&password={ADMIN[1]}&csrf_token={token}"
    conn.request(
        "POST",
        "/login",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie.split(";", 1)[0],
        },
    )
    signed_in = conn.getresponse()
    signed_in.read()
    assert signed_in.status == 303
    session = (signed_in.getheader("Set-Cookie") or "").split(";", 1)[0]
    conn.request("GET", "/campaign/alpha", headers={"Cookie": session})
    page = conn.getresponse()
    assert page.status == 200 and b"alpha" in page.read()
    assert "max-age" in (page.getheader("Strict-Transport-Security") or "")
    # plain HTTP on the TLS port gets nothing useful
    plain = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        plain.request("GET", "/api/campaigns", headers={"Authorization": AUTH})
        reply = plain.getresponse()
        assert reply.status != 200
        raise ConnectionError("refused as expected")
    log = (tmp_path / "server.log").read_text()
    assert f"htflow dashboard on https://127.0.0.1:{port}" in log
    assert "Starting gunicorn" in log and "Control socket" not in log
