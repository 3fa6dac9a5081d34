"""A fake Google for the FCM transport: OAuth token endpoint and FCM, behind an HTTPS CONNECT proxy.

The portal reaches it through firebase-admin's and google-auth's own code: gunicorn gets
HTTPS_PROXY pointing here and a test CA (`server_env`), so only the network is fake
(/work/shared/reference/firebase-admin.md, "Full stack"). bench/push_latency.py measures logins
through it; tests/faults/test_fcm_faults.py sets a `fault` to see what an FCM outage does to a login.
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FCM_PROJECT = "jweb-bench"
ACCESS_TOKEN = "ya29.bench-access-token"
GOOGLE_HOSTS = ("fcm.googleapis.com", "oauth2.googleapis.com")
SEND_PATH = f"/v1/projects/{FCM_PROJECT}/messages:send"


def make_test_pki(directory: Path) -> dict[str, str]:
    """Write a test CA, a certificate for Google's two hosts, and a service-account file."""

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key, account_key = key(), key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "JWEBOFFICE bench test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital signature, key cert sign, CRL sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GOOGLE_HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host) for host in GOOGLE_HOSTS]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem(key: rsa.RSAPrivateKey) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    paths = {name: directory / f"{name}.pem" for name in ("ca", "leaf", "leaf_key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["leaf"].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths["leaf_key"].write_text(pem(leaf_key))
    paths["account"] = directory / "service-account.json"
    paths["account"].write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": FCM_PROJECT,
                "private_key_id": "bench-key-1",
                "private_key": pem(account_key),
                "client_email": f"push@{FCM_PROJECT}.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": f"https://{GOOGLE_HOSTS[1]}/token",
            }
        )
    )
    return {name: str(path) for name, path in paths.items()}


class FakeGoogle(http.server.ThreadingHTTPServer):
    """An HTTPS CONNECT proxy that answers as Google's token endpoint and FCM itself.

    `fault` makes it fail as Google does in an outage; `counts` says what it received:
    `token` exchanges and `send` requests (every messages:send, answered or not), `fcm` the
    messages it took, `connect` tunnels, `refused` tunnels to other hosts.
    """

    # messages:send answers 503 UNAVAILABLE (with a Retry-After no client should sleep for).
    UNAVAILABLE = "unavailable"
    # messages:send never answers: the request hangs until stop() (at most `hang_seconds`).
    HANG = "hang"
    # The token endpoint refuses the service account's JWT: 400 invalid_grant, as Google
    # answers for a deleted or revoked key.
    REFUSE_TOKEN = "refuse_token"

    daemon_threads = True

    def __init__(self, port: int, pki: dict[str, str], on_message=None, fault: str | None = None) -> None:
        super().__init__(("127.0.0.1", port), FakeGoogleHandler)
        self.pki = pki
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(pki["leaf"], pki["leaf_key"])
        self.on_message = on_message or (lambda token, data, received: None)
        self.fault = fault
        self.hang_seconds = 60.0
        self.released = threading.Event()
        self.counts = {"connect": 0, "token": 0, "send": 0, "fcm": 0, "refused": 0}
        self.lock = threading.Lock()

    def count(self, name: str) -> None:
        with self.lock:
            self.counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)

    def start(self) -> FakeGoogle:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.released.set()  # let hanging requests end
        self.shutdown()
        self.server_close()

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def server_env(self) -> dict[str, str]:
        """Return what the portal's environment needs to send FCM through this fake."""
        return {
            "JWEB_PUSH_TRANSPORT": "fcm",
            "JWEB_FCM_CREDENTIALS": self.pki["account"],
            "JWEB_FCM_PROJECT": FCM_PROJECT,
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": self.pki["ca"],
        }


class FakeGoogleHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeGoogle

    def log_message(self, format, *args):
        pass

    def do_CONNECT(self):  # noqa: N802 - http.server's naming
        host = self.path.rsplit(":", 1)[0]
        if host not in GOOGLE_HOSTS:
            self.server.count("refused")
            self.send_error(403, "only Google's token endpoint and FCM here")
            return
        self.server.count("connect")
        self.send_response(200, "Connection established")
        self.end_headers()
        tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.connection, self.rfile, self.wfile = tls, tls.makefile("rb"), tls.makefile("wb")
        self.close_connection = False  # go on reading requests, now inside the tunnel

    def do_POST(self):  # noqa: N802
        received = time.monotonic()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fault = self.server.fault
        if self.path == "/token":
            self.server.count("token")
            if fault == FakeGoogle.REFUSE_TOKEN:
                self.answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                return
            self.answer(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        elif self.path == SEND_PATH:
            self.server.count("send")
            if self.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
                self.answer(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
                return
            if fault == FakeGoogle.UNAVAILABLE:
                error = {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}
                self.answer(503, {"error": error}, {"Retry-After": "3600"})
                return
            if fault == FakeGoogle.HANG:
                self.server.released.wait(self.server.hang_seconds)
                self.close_connection = True  # never answer: the client has given up by now
                return
            try:
                message = json.loads(body)["message"]
            except (ValueError, KeyError, TypeError):
                self.answer(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                return
            self.server.count("fcm")
            self.server.on_message(message.get("token", ""), message.get("data", {}), received)
            self.answer(200, {"name": f"projects/{FCM_PROJECT}/messages/{received}"})
        else:
            self.answer(404, {"error": {"code": 404, "status": "NOT_FOUND"}})

    def answer(self, status: int, document: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
