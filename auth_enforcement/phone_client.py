"""A stand-in for the smartphone app (privacyIDEA Authenticator): the PUSH v1 protocol, phone side.

Written from ../shared/reference/push-protocol.md alone and sharing no code with the server
(`push.py`, `pushproto.py`), so that a misreading of the protocol on one side is not hidden by
the same misreading on the other. Standard library, `cryptography` and `requests` only: no Django.

    python -m auth_enforcement.phone_client enroll 'otpauth://pipush/…' --state phone.json
    python -m auth_enforcement.phone_client poll --state phone.json
    python -m auth_enforcement.phone_client accept --state phone.json --number 27
    python -m auth_enforcement.phone_client decline --state phone.json --reason not_me
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_BITS = 4096
PUBLIC_EXPONENT = 65537
SIGNATURE_CHARS = 824  # base32 of a 512-byte RSA-4096 signature, padded
NO_PUSH_TOKEN = "no_firebase_token"  # the app's push token in poll-only mode
DECLINE_REASONS = {"not_me": "unknown_trigger", "cancelled": "cancelled"}
TIMEOUT_SECONDS = 15
BASE32 = re.compile(r"[A-Z2-7]+=*")


class PhoneError(Exception):
    """The phone cannot go on: bad QR code, bad server answer, or no state."""


class ServerRefusedError(PhoneError):
    """The server answered `status: false`; `code` and `message` are its own."""

    def __init__(self, code: int | None, message: str, http_status: int) -> None:
        super().__init__(f"server refused (HTTP {http_status}, code {code}): {message}")
        self.code, self.message, self.http_status = code, message, http_status


# -- keys and signatures ----------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    """Return a fresh RSA-4096 key, as the app makes one per token."""
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)


def public_key_field(key: rsa.RSAPrivateKey) -> str:
    """Return the rollout's `pubkey`: standard base64 of DER SubjectPublicKeyInfo, no PEM armour."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def load_server_key(body: str) -> rsa.RSAPublicKey:
    """Read the server key from the rollout answer: PKCS#1 RSAPublicKey, PEM body without armour."""
    if not body or "-----" in body:
        raise PhoneError("detail.public_key must be a PEM body without header and footer")
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PhoneError(f"detail.public_key is not base64: {exc}") from exc
    # PKCS#1 is SEQUENCE { INTEGER n, INTEGER e }; SPKI (which breaks the app) starts SEQUENCE { SEQUENCE …
    # cryptography loads either, so look at the first inner tag ourselves.
    if not _first_inner_tag_is_integer(der):
        raise PhoneError("detail.public_key is not a PKCS#1 RSAPublicKey (an SPKI key breaks the app)")
    try:
        key = serialization.load_der_public_key(der)
    except ValueError as exc:
        raise PhoneError(f"detail.public_key is not a PKCS#1 RSA public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != KEY_BITS:
        raise PhoneError("detail.public_key is not an RSA-4096 key")
    if key.public_numbers().e != PUBLIC_EXPONENT:
        raise PhoneError("detail.public_key does not use e = 65537")
    return key


def _first_inner_tag_is_integer(der: bytes) -> bool:
    """Return whether DER `der` is a SEQUENCE whose first element is an INTEGER."""
    if len(der) < 4 or der[0] != 0x30:
        return False
    length_octets = der[1] & 0x7F if der[1] & 0x80 else 0  # long form: 0x8N then N length bytes
    return len(der) > 2 + length_octets and der[2 + length_octets] == 0x02


def sign(key: rsa.RSAPrivateKey, *fields: str) -> str:
    """Sign the fields joined by `|` (UTF-8), RSASSA-PKCS1-v1_5/SHA-256; return upper-case padded base32."""
    raw = key.sign("|".join(fields).encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b32encode(raw).decode("ascii")


def signature_is_valid(key: rsa.RSAPublicKey, signature: str, *fields: str) -> bool:
    """Return whether `signature` is the server's signature of the fields joined by `|`."""
    # Strict on the encoding as well: the app's decoder expects upper case, padded, 824 characters.
    if len(signature) != SIGNATURE_CHARS or not BASE32.fullmatch(signature):
        return False
    try:
        key.verify(base64.b32decode(signature), "|".join(fields).encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def timestamp(at: datetime | None = None) -> str:
    """Return a UTC ISO 8601 timestamp with microseconds and `Z` (2026-08-21T09:30:42.123456Z)."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the QR code ------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentCode:
    """What the enrollment QR code tells the app."""

    label: str
    url: str
    serial: str
    enrollment_credential: str
    issuer: str
    ttl_minutes: int
    sslverify: bool
    poll_only: bool


def parse_qr(qr_uri: str) -> EnrollmentCode:
    """Read `otpauth://pipush/<label>?url=…&serial=…&v=1…` as the app does; raise PhoneError if unusable."""
    parts = urlsplit(qr_uri.strip())
    if parts.scheme.lower() != "otpauth" or parts.netloc.lower() != "pipush":
        raise PhoneError("not a push enrollment code (expected otpauth://pipush/…)")
    params = {name: values[0] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    if params.get("v") != "1":
        raise PhoneError(f"unsupported push protocol version v={params.get('v')!r} (expected 1)")
    for name in ("serial", "url", "enrollment_credential"):
        if not params.get(name):
            raise PhoneError(f"the QR code has no {name}")
    url = params["url"]  # parse_qs has undone the percent-encoding (http%3A//host%3Aport/…)
    target = urlsplit(url)
    if target.scheme not in ("http", "https") or not target.hostname:
        raise PhoneError(f"the QR code's url is not an http(s) URL with a host: {url!r}")
    try:
        ttl = int(params.get("ttl") or 3)  # the app's default: 3 minutes
    except ValueError as exc:
        raise PhoneError(f"bad ttl {params['ttl']!r}") from exc
    return EnrollmentCode(
        label=unquote(parts.path.lstrip("/")),
        url=url,
        serial=params["serial"],
        enrollment_credential=params["enrollment_credential"],
        issuer=params.get("issuer", ""),
        ttl_minutes=ttl,
        sslverify=params.get("sslverify", "1") != "0",
        poll_only=params.get("poll_only", "").lower() in ("true", "1"),
    )


# -- challenges -------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """One open request as the phone received it, after its server signature was checked."""

    nonce: str
    serial: str
    question: str
    title: str
    url: str
    sslverify: str
    signature: str
    require_presence: str = ""
    capabilities: str = ""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Challenge:
        """Build from a polled JSON object; PhoneError if a signed field is missing."""
        signed = ("nonce", "serial", "question", "title", "url", "sslverify", "signature")
        if not isinstance(data, dict) or any(not isinstance(data.get(name), str) for name in signed):
            raise PhoneError(f"malformed challenge: {data!r}")
        return cls(
            **{name: data[name] for name in signed},
            require_presence=str(data.get("require_presence") or ""),
            capabilities=str(data.get("capabilities") or ""),
        )

    @property
    def options(self) -> list[str]:
        """The numbers the app offers for number matching (empty without require_presence)."""
        return [option for option in self.require_presence.split(",") if option]

    @property
    def can_give_decline_reason(self) -> bool:
        """Whether the server advertised the decline_reason capability (unsigned: only a UI hint)."""
        try:
            capabilities = json.loads(self.capabilities) if self.capabilities else {}
        except ValueError:
            return False
        return isinstance(capabilities, dict) and capabilities.get("decline_reason") is True

    def signed_fields(self) -> list[str]:
        """Return the fields the server signs: nonce|url|serial|question|title|sslverify[|require_presence]."""
        fields = [self.nonce, self.url, self.serial, self.question, self.title, self.sslverify]
        if self.require_presence:
            fields.append(self.require_presence)
        return fields


@dataclass(frozen=True)
class Rejected:
    """A polled challenge the phone dropped, as received, and why."""

    data: Any
    reason: str

    @property
    def nonce(self) -> str:
        return str(self.data.get("nonce", "?")) if isinstance(self.data, dict) else "?"


@dataclass
class Polled:
    """A poll's outcome: the challenges whose server signature holds, and those dropped."""

    challenges: list[Challenge] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


# -- the phone --------------------------------------------------------------------------


class Phone:
    """One push token on one phone, its state kept in a JSON file (it holds a private key: mode 600)."""

    def __init__(self, state_file: str | os.PathLike[str], session: requests.Session | None = None) -> None:
        self.state_file = Path(state_file)
        self.session = session or requests.Session()
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    # state

    @property
    def serial(self) -> str:
        """The token's serial (from the QR code)."""
        return self._require("serial")

    @property
    def url(self) -> str:
        """The device API URL (from the QR code)."""
        return self._require("url")

    @property
    def sslverify(self) -> bool:
        """Whether to check the server's TLS certificate (the QR code's sslverify)."""
        return bool(self.state.get("sslverify", True))

    @property
    def push_token(self) -> str:
        """The push token sent to the server (no_firebase_token when poll-only)."""
        return self.state.get("push_token", NO_PUSH_TOKEN)

    def _require(self, name: str) -> Any:
        if not self.state.get(name):
            raise PhoneError(f"{self.state_file} holds no enrolled token (missing {name}); run enroll first")
        return self.state[name]

    def _private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self._require("private_key").encode("ascii"), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PhoneError(f"{self.state_file}: the private key is not an RSA key")
        return key

    def _server_key(self) -> rsa.RSAPublicKey:
        return load_server_key(self._require("server_public_key"))

    def save(self) -> None:
        """Write the state file, readable by its owner only (it holds the app's private key)."""
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            json.dump(self.state, out, indent=2)

    # HTTP

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        """Return a device API answer's JSON body; ServerRefusedError on `status: false`."""
        try:
            body = response.json()
            result = body["result"]
            status = result["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PhoneError(f"HTTP {response.status_code}, not a device API answer: {response.text[:200]!r}") from exc
        if status is not True:
            error = result.get("error") or {}
            raise ServerRefusedError(error.get("code"), error.get("message", "(no message)"), response.status_code)
        return body

    def _post(self, url: str, data: dict[str, str], verify: bool) -> dict[str, Any]:
        return self._answer(self.session.post(url, data=data, verify=verify, timeout=TIMEOUT_SECONDS))

    # the protocol

    def enroll(
        self, qr_uri: str, key: rsa.RSAPrivateKey | None = None, push_token: str = NO_PUSH_TOKEN
    ) -> dict[str, Any]:
        """Scan the QR code, make the app key (unless given), roll out, keep the server's key; return `result`."""
        code = parse_qr(qr_uri)
        key = key or new_key()
        body = self._post(
            code.url,
            {
                "enrollment_credential": code.enrollment_credential,
                "serial": code.serial,
                "fbtoken": push_token,
                "pubkey": public_key_field(key),
                "capabilities": json.dumps(["decline_reason"]),
            },
            verify=code.sslverify,
        )
        detail = body.get("detail") or {}
        if body["result"].get("value") is not True or detail.get("rollout_state") != "enrolled":
            raise PhoneError(f"rollout not confirmed: detail.rollout_state={detail.get('rollout_state')!r}")
        load_server_key(str(detail.get("public_key") or ""))  # refuse a malformed key now, not at the first poll
        self.state = {
            "serial": code.serial,
            "label": code.label,
            "issuer": code.issuer,
            "url": code.url,
            "sslverify": code.sslverify,
            "poll_only": code.poll_only,
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode("ascii"),
            "server_public_key": detail["public_key"],
            "push_token": push_token,
        }
        self.save()
        return body["result"]

    def poll(self, at: datetime | None = None) -> Polled:
        """Fetch the open challenges; keep those the server signed, drop (and report) the others."""
        stamp = timestamp(at)
        response = self.session.get(
            self.url,
            params={
                "serial": self.serial,
                "timestamp": stamp,
                "signature": sign(self._private_key(), self.serial, stamp),
            },
            verify=self.sslverify,
            timeout=TIMEOUT_SECONDS,
        )
        value = self._answer(response)["result"].get("value")
        if not isinstance(value, list):
            raise PhoneError(f"poll answer is not a list of challenges: {value!r}")
        server_key = self._server_key()
        polled = Polled()
        for data in value:
            try:
                challenge = Challenge.from_wire(data)
            except PhoneError as exc:
                polled.rejected.append(Rejected(data, str(exc)))
                continue
            if challenge.serial != self.serial:
                polled.rejected.append(Rejected(data, "challenge for another serial"))
            elif not signature_is_valid(server_key, challenge.signature, *challenge.signed_fields()):
                # A challenge the server did not sign, or one changed after signing: never show it.
                polled.rejected.append(Rejected(data, "server signature does not verify"))
            else:
                polled.challenges.append(challenge)
        return polled

    def accept(self, challenge: Challenge, presence_answer: str | None = None) -> dict[str, Any]:
        """Approve a challenge (with the chosen number when it asks for one); return `result`."""
        fields = [challenge.nonce, self.serial]
        data = {"nonce": challenge.nonce, "serial": self.serial}
        if presence_answer is not None:
            fields.append(presence_answer)
            data["presence_answer"] = presence_answer
        data["signature"] = sign(self._private_key(), *fields)
        return self._post(challenge.url, data, verify=challenge.sslverify != "0")["result"]

    def decline(self, challenge: Challenge, reason: str | None = None) -> dict[str, Any]:
        """Decline a challenge, with `unknown_trigger` ("not me") or `cancelled` as the reason; return `result`."""
        fields = [challenge.nonce, self.serial, "decline"]
        data = {"nonce": challenge.nonce, "serial": self.serial, "decline": "1"}
        if reason:
            fields.append(reason)
            data["decline_reason"] = reason
        data["signature"] = sign(self._private_key(), *fields)
        return self._post(challenge.url, data, verify=challenge.sslverify != "0")["result"]

    def update_push_token(self, token: str, at: datetime | None = None) -> dict[str, Any]:
        """Tell the server the app's new push (FCM) token, signed `new_fb_token|serial|timestamp`."""
        stamp = timestamp(at)
        data = {
            "new_fb_token": token,
            "serial": self.serial,
            "timestamp": stamp,
            "signature": sign(self._private_key(), token, self.serial, stamp),
        }
        result = self._post(self.url, data, verify=self.sslverify)["result"]
        self.state["push_token"] = token
        self.save()
        return result


# -- command line -----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _first_open(phone: Phone) -> Challenge:
    polled = phone.poll()
    _warn_rejected(polled)
    if not polled.challenges:
        raise PhoneError("no open request")
    return polled.challenges[0]


def _warn_rejected(polled: Polled) -> None:
    for rejected in polled.rejected:
        print(f"warning: dropped a request ({rejected.reason}), nonce {rejected.nonce[:8]}…", file=sys.stderr)


def _describe(challenge: Challenge) -> str:
    lines = [f"{challenge.title}: {challenge.question}"]
    if challenge.options:
        lines.append(f"    Tap the number shown on the login page: {'  '.join(challenge.options)}")
    else:
        lines.append("    Accept or decline.")
    return "\n".join(lines)


def _enroll(args: argparse.Namespace) -> int:
    phone = Phone(args.state)
    phone.enroll(args.qr_uri, push_token=args.push_token)
    print(f"Enrolled token {phone.serial} at {phone.url}; state saved in {args.state}.")
    return 0


def _poll(args: argparse.Namespace) -> int:
    polled = Phone(args.state).poll()
    _warn_rejected(polled)
    if not polled.challenges:
        print("No open requests.")
    for number, challenge in enumerate(polled.challenges, 1):
        print(f"[{number}] {_describe(challenge)}")
    return 1 if polled.rejected else 0


def _accept(args: argparse.Namespace) -> int:
    phone = Phone(args.state)
    challenge = _first_open(phone)
    print(_describe(challenge))
    answer = None
    if challenge.options:
        if args.number is None:
            raise PhoneError(f"this request asks for a number: use --number with one of {', '.join(challenge.options)}")
        if args.number not in challenge.options:
            raise PhoneError(f"{args.number} is not offered; choose one of {', '.join(challenge.options)}")
        answer = args.number
    elif args.number is not None:
        print("note: this request asks for no number; --number ignored", file=sys.stderr)
    if phone.accept(challenge, answer).get("value") is not True:
        print("The server did not accept the answer (wrong number?); the request stays open.", file=sys.stderr)
        return 1
    print("Accepted.")
    return 0


def _decline(args: argparse.Namespace) -> int:
    phone = Phone(args.state)
    challenge = _first_open(phone)
    print(_describe(challenge))
    reason = DECLINE_REASONS[args.reason] if args.reason else None
    if reason and not challenge.can_give_decline_reason:
        # The app sends a reason only when the server advertised the capability.
        print("note: the server takes no decline reason; declining without one", file=sys.stderr)
        reason = None
    if phone.decline(challenge, reason).get("value") is not True:
        print("The server did not record the decline.", file=sys.stderr)
        return 1
    print("Declined" + (f" ({args.reason})." if reason else "."))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser: enroll, poll, accept, decline."""
    parser = _Parser(prog="python -m auth_enforcement.phone_client", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    enroll = commands.add_parser("enroll", help="scan an enrollment QR code (its otpauth:// text)")
    enroll.add_argument("qr_uri")
    enroll.add_argument("--push-token", default=NO_PUSH_TOKEN, help="FCM token (default: poll-only)")
    enroll.set_defaults(run=_enroll)

    commands.add_parser("poll", help="show the open requests").set_defaults(run=_poll)

    accept = commands.add_parser("accept", help="accept the first open request")
    accept.add_argument("--number", help="the number shown on the login page (number matching)")
    accept.set_defaults(run=_accept)

    decline = commands.add_parser("decline", help="decline the first open request")
    decline.add_argument("--reason", choices=sorted(DECLINE_REASONS), help="not_me blocks further requests")
    decline.set_defaults(run=_decline)

    for command in commands.choices.values():
        command.add_argument("--state", required=True, type=Path, help="the phone's JSON state file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return 0 on success, 1 on any failure."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (PhoneError, requests.RequestException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
