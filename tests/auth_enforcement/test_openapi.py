"""The device API's OpenAPI 3.1 document stays true to the code.

Three layers: the document itself (parses, is served as is, names real URLs); real responses of
the API, driven as in test_push.py, validated against it with jsonschema (and a mutated
document must reject them, so the validation is known to bite); and schemathesis fuzzing a live
server with cases generated from it.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Hypothesis keeps caches in ./.hypothesis unless told otherwise: keep the project folder clean.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "jweboffice-hypothesis"))

import pytest
import schemathesis
import yaml
from cryptography.hazmat.primitives import serialization
from django.db import connection
from django.test import Client
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from auth_enforcement import crypto, device_api, pushproto
from auth_enforcement.models import Authenticator, PushChallenge, new_serial
from tests.auth_enforcement.conftest import app_signature
from tests.auth_enforcement.test_push import answer, challenge_of, poll, qr_fields, roll_out
from tests.conftest import log_in

DOCUMENT = device_api.OPENAPI_DOCUMENT
DOCUMENT_URI = "urn:jweboffice:device-api.openapi.yaml"
DEVICE = "/device/push/"
POST_200 = ("post", "200")


def load_document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


def escape(token: str) -> str:
    """One JSON-pointer token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def response_schema_pointer(document: dict, method: str, status: str, path: str = DEVICE) -> str:
    """Return the JSON pointer of a response's JSON schema, following a `$ref`'d Response Object."""
    pointer = f"/paths/{escape(path)}/{method}/responses/{status}"
    response = document["paths"][path][method]["responses"][status]
    while "$ref" in response:
        ref = response["$ref"]
        assert ref.startswith("#/"), ref
        pointer = ref[1:]
        response = document
        for token in ref[2:].split("/"):
            response = response[token.replace("~1", "/").replace("~0", "~")]
    assert "application/json" in response["content"], pointer
    return f"{pointer}/content/application~1json/schema"


def validator(document: dict, pointer: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for the schema at `pointer`, resolving `$ref`s inside the document."""
    registry = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def conforms(response, method: str, status: str, component: str, document: dict | None = None) -> dict:
    """Assert that a real response has the status, type and body the document gives it; return the body."""
    document = document or load_document()
    assert response.status_code == int(status), response.content[:500]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    validator(document, response_schema_pointer(document, method, status)).validate(body)
    validator(document, f"/components/schemas/{component}").validate(body)
    return body


def token_update(keys, serial: str, new_token: str, at: datetime | None = None):
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signature = app_signature(keys["app"], f"{new_token}|{serial}|{stamp}")
    return Client().post(
        DEVICE, {"new_fb_token": new_token, "serial": serial, "timestamp": stamp, "signature": signature}, secure=True
    )


# -- the document -----------------------------------------------------------------------------


def test_document_is_openapi_3_1_with_valid_schemas():
    document = load_document()
    assert re.fullmatch(r"3\.1\.\d+", document["openapi"])
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    operations = [result.ok() for result in schemathesis.openapi.from_path(DOCUMENT).get_all_operations()]
    assert sorted(op.label for op in operations) == [
        "GET /device/push/",
        "GET /device/push/openapi.yaml",
        "POST /device/push/",
    ]


@pytest.mark.django_db
def test_document_is_served_byte_for_byte():
    response = Client().get(reverse("auth_enforcement:device-push-openapi"), secure=True)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == "application/yaml"
    assert response.content == DOCUMENT.read_bytes()


def test_every_path_is_a_django_url_and_the_device_api_is_described():
    paths = load_document()["paths"]
    for path in paths:
        try:
            resolve(path)
        except Resolver404:
            pytest.fail(f"{path} in the OpenAPI document is no URL of the project")
    assert reverse("auth_enforcement:device-push") in paths
    assert reverse("auth_enforcement:device-push-openapi") in paths
    assert resolve(DEVICE).func == device_api.device_push
    assert set(paths[DEVICE]) - {"description", "summary", "parameters"} == {"get", "post"}


def test_the_signed_strings_the_document_gives_are_the_codes():
    """The document tells app builders what to sign: it must say what pushproto signs and checks.

    Each function is called with the field names as values, once without and once with the
    optional last field.
    """
    text = " ".join(load_document()["info"]["description"].split())
    challenge = ("nonce", "url", "serial", "question", "title", "sslverify")
    cases = [
        ("challenge, signed by the server:", pushproto.challenge_message, challenge, "require_presence"),
        ("poll, signed by the app:", pushproto.poll_message, ("serial", "timestamp"), None),
        ("accept, signed by the app:", pushproto.accept_message, ("nonce", "serial"), "presence_answer"),
        ("decline, signed by the app:", pushproto.decline_message, ("nonce", "serial"), "decline_reason"),
        (
            "push token update, signed by the app:",
            pushproto.token_update_message,
            ("new_fb_token", "serial", "timestamp"),
            None,
        ),
    ]
    for label, sign, fields, optional in cases:
        base = sign(*fields)
        stated = f"{label} `{base}`" + (f", followed by `|{optional}` when" if optional else "")
        assert stated in text, stated
        if optional:
            assert sign(*fields, optional) == f"{base}|{optional}"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["put", "patch", "delete", "head", "options"])
def test_other_methods_are_405_as_the_document_says(method):
    response = getattr(Client(), method)(DEVICE, secure=True)
    assert response.status_code == 405 and response["Allow"] == "GET, POST"
    assert "405" in load_document()["paths"][DEVICE]["description"]


# -- real responses against the document ------------------------------------------------------


def test_poll_with_one_challenge(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    body = conforms(poll(keys, fx_push.authenticator.serial), "get", "200", "PollResponse")
    (item,) = body["result"]["value"]
    assert {"require_presence", "capabilities"} <= set(item)  # the optional fields were checked too


def test_empty_poll(keys, fx_push):
    body = conforms(poll(keys, fx_push.authenticator.serial), "get", "200", "PollResponse")
    assert body["result"]["value"] == []


def test_badly_signed_poll_is_a_documented_error(keys, fx_push):
    body = conforms(poll(keys, fx_push.authenticator.serial, key=keys["server"]), "get", "400", "ErrorResponse")
    assert body["result"]["error"]["code"] == 905


@pytest.mark.django_db
def test_missing_and_too_long_fields_are_documented_errors(keys):
    missing = Client().get(DEVICE, {"serial": "JWP000000001", "timestamp": "2026-01-01T00:00:00Z"}, secure=True)
    assert conforms(missing, "get", "400", "ErrorResponse")["result"]["error"]["code"] == 10
    too_long = Client().post(DEVICE, {"nonce": "N" * 4097, "serial": "JWP000000001", "signature": "S"}, secure=True)
    assert conforms(too_long, "post", "400", "ErrorResponse")["result"]["error"] == {
        "code": 10,
        "message": "nonce is too long",
    }


def test_rollout_and_its_repeat(client, keys, fx_user):
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    body = conforms(roll_out(keys, fields), *POST_200, "RolloutResponse")
    assert body["detail"]["serial"] == fields["serial"]
    conforms(roll_out(keys, fields), "post", "400", "ErrorResponse")


def test_accept_with_the_right_number(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    body = conforms(answer(client, keys, challenge, presence=challenge.number), *POST_200, "AnswerResponse")
    assert body["result"]["value"] is True


def test_accept_with_a_wrong_number(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    wrong = next(n for n in challenge.options.split(",") if n != challenge.number)
    body = conforms(answer(client, keys, challenge, presence=wrong), *POST_200, "AnswerResponse")
    assert body["result"]["value"] is False


@pytest.mark.parametrize("reason", ["unknown_trigger", "cancelled", ""])
def test_decline(client, keys, fx_user, fx_push, reason):
    log_in(client, "fx", "taro01")
    body = conforms(
        answer(client, keys, challenge_of(fx_user), decline=True, reason=reason), *POST_200, "AnswerResponse"
    )
    assert body["result"]["value"] is True


def test_push_token_update(keys, fx_push):
    body = conforms(token_update(keys, fx_push.authenticator.serial, "fcm-token-2"), *POST_200, "TokenUpdateResponse")
    assert body["result"]["value"] is True
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).push_token == "fcm-token-2"


@pytest.mark.parametrize("age", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_a_signed_but_stale_token_update_is_refused_and_changes_nothing(keys, fx_push, age):
    # Rule 8: a replayed (or post-dated) update, well signed, must not take the phone's notifications.
    before = Authenticator.objects.get(pk=fx_push.authenticator_id).push_token
    response = token_update(keys, fx_push.authenticator.serial, "fcm-token-stolen", at=datetime.now(UTC) - age)
    assert response.status_code == 400
    assert Authenticator.objects.get(pk=fx_push.authenticator_id).push_token == before


@pytest.mark.django_db
def test_empty_probe():
    body = conforms(Client().post(DEVICE, secure=True), *POST_200, "ProbeResponse")
    assert body["result"]["value"] is False


# -- the validation bites ------------------------------------------------------------------------


def _drop_rollout_detail(document):
    schema = document["components"]["schemas"]["RolloutResponse"]
    del schema["properties"]["detail"]
    schema["required"].remove("detail")


def _drop_challenge_capabilities(document):
    del document["components"]["schemas"]["Challenge"]["properties"]["capabilities"]


def _sslverify_only_zero(document):
    document["components"]["schemas"]["Challenge"]["properties"]["sslverify"]["enum"] = ["0"]


def _rollout_value_false(document):
    document["components"]["schemas"]["TrueResult"]["properties"]["value"]["const"] = False


def _error_code_10_only(document):
    error = document["components"]["schemas"]["ErrorResponse"]["properties"]["result"]["properties"]["error"]
    error["properties"]["code"]["enum"] = [10]


MUTATIONS: dict[str, tuple[Callable[[dict], None], str, str, str]] = {
    # name: (mutation, which real response, method, status)
    "rollout without detail": (_drop_rollout_detail, "rollout", "post", "200"),
    "challenge without capabilities": (_drop_challenge_capabilities, "poll", "get", "200"),
    "sslverify only 0": (_sslverify_only_zero, "poll", "get", "200"),
    "rollout value false (through two $refs)": (_rollout_value_false, "rollout", "post", "200"),
    "error code 10 only": (_error_code_10_only, "bad poll", "get", "400"),
}


@pytest.fixture
def real_bodies(client, keys, fx_user) -> dict[str, dict]:
    """A rollout's, a poll's (one challenge) and a refused poll's JSON bodies, from the real API."""
    log_in(client, "fx", "taro01")
    fields = qr_fields(client.get("/enroll/push/").content.decode())
    bodies = {"rollout": roll_out(keys, fields).json()}
    client.get("/enroll/push/")  # sends the new token's first approval
    bodies["poll"] = poll(keys, fields["serial"]).json()
    bodies["bad poll"] = poll(keys, fields["serial"], key=keys["server"]).json()
    assert "detail" in bodies["rollout"] and len(bodies["poll"]["result"]["value"]) == 1
    return bodies


def test_a_document_that_disagrees_with_the_api_is_caught(real_bodies):
    """Each mutation breaks the document at one point; the real body must then fail validation."""
    document = load_document()
    missed = []
    for name, (mutate, which, method, status) in MUTATIONS.items():
        pointer = response_schema_pointer(document, method, status)
        validator(document, pointer).validate(real_bodies[which])  # the true document accepts the body
        mutated = copy.deepcopy(document)
        mutate(mutated)
        if validator(mutated, pointer).is_valid(real_bodies[which]):
            missed.append(name)
    assert not missed, f"validation did not notice: {missed}"


# -- schemathesis against a live server ----------------------------------------------------------


CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
CREDENTIAL = "c0ffee" * 6 + "c0de"  # the pending token's enrollment credential (40 hex digits)


class World:
    """What the fuzzer may know: an active token with an open challenge, a token awaiting rollout.

    `reset()` puts them back before each case, so an accepted, declined or rolled-out case does
    not close the door for the next ones.
    """

    def __init__(self, keys, user, registration) -> None:
        self.keys = keys
        self.serial = registration.authenticator.serial
        self.push_id = registration.authenticator_id
        browser = Client()
        log_in(browser, "fx", "taro01", secure=True)
        self.challenge = challenge_of(user)
        self.nonce = self.challenge.nonce
        server_pem = keys["server"].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.pending = Authenticator.objects.create(
            kind=Authenticator.Kind.PUSH,
            serial=new_serial("JWP"),
            customer=user.customer,
            status=Authenticator.Status.PENDING,
            server_key_sealed=crypto.seal(server_pem),
        )
        der = (
            keys["app"]
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        standard = base64.b64encode(der).decode()
        pem = "\n".join(["-----BEGIN PUBLIC KEY-----", *re.findall(".{1,64}", standard), "-----END PUBLIC KEY-----"])
        # The encodings the document says the server reads.
        self.pubkeys = [
            standard,
            base64.urlsafe_b64encode(der).decode(),
            standard.replace("+", " "),
            standard.rstrip("="),
            pem,
        ]

    def reset(self) -> None:
        now = timezone.now()
        PushChallenge.objects.filter(pk=self.challenge.pk).update(
            status=PushChallenge.Status.PENDING, expires_at=now + timedelta(minutes=2), answered_at=None
        )
        Authenticator.objects.filter(pk=self.push_id).update(
            status=Authenticator.Status.ACTIVE, push_blocked_until=None
        )
        Authenticator.objects.filter(pk=self.pending.pk).update(
            status=Authenticator.Status.PENDING,
            app_public_key="",
            enrollment_digest=hashlib.sha256(CREDENTIAL.encode()).hexdigest(),
            enrollment_expires_at=now + timedelta(minutes=10),
        )

    def sign(self, message: str) -> str:
        return app_signature(self.keys["app"], message)


def _stamp(offset: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strings(mapping, *names) -> bool:
    return isinstance(mapping, dict) and all(isinstance(mapping.get(name, ""), str) for name in names)


def make_authentic(case, world: World, how: str, data) -> None:
    """Point a generated case at the world's serials and, for `signed`, sign it as the app would.

    The signed strings follow the document's descriptions (not the server's code).
    """
    if how == "as generated":
        return
    signed = how == "signed"
    if case.method == "GET" and case.path == DEVICE and _strings(case.query, "serial"):
        query = dict(case.query)
        query["serial"] = world.serial
        if signed:
            query["timestamp"] = _stamp(data.draw(st.floats(-50, 50), label="poll clock skew"))
            query["signature"] = world.sign(f"{query['serial']}|{query['timestamp']}")
        case.query = query
    elif case.method == "POST" and isinstance(case.body, dict) and case.body:
        body = dict(case.body)
        if "enrollment_credential" in body:
            body.update(serial=world.pending.serial, enrollment_credential=CREDENTIAL)
            if signed:
                body["pubkey"] = data.draw(st.sampled_from(world.pubkeys), label="pubkey encoding")
        elif "new_fb_token" in body and _strings(body, "new_fb_token"):
            body["serial"] = world.serial
            if signed:
                body["timestamp"] = _stamp(data.draw(st.floats(-290, 290), label="token clock skew"))
                body["signature"] = world.sign(f"{body['new_fb_token']}|{body['serial']}|{body['timestamp']}")
        elif _strings(body, "presence_answer", "decline", "decline_reason"):
            body.update(nonce=world.nonce, serial=world.serial)
            if signed:
                prefix = f"{body['nonce']}|{body['serial']}"
                if body.get("decline") == "1":
                    reason = body.get("decline_reason", "")
                    known = reason in ("unknown_trigger", "cancelled")
                    body["signature"] = world.sign(f"{prefix}|decline" + (f"|{reason}" if known else ""))
                else:
                    right, options = world.challenge.number, world.challenge.options.split(",")
                    presence = data.draw(
                        st.sampled_from([body.get("presence_answer", ""), right, *options, ""]), label="number tapped"
                    )
                    body["presence_answer"] = presence
                    if not presence:
                        del body["presence_answer"]
                    body["signature"] = world.sign(prefix + (f"|{presence}" if presence else ""))
        case.body = body


POSTGRESQL = connection.vendor == "postgresql"
SCHEMA = schemathesis.openapi.from_path(DOCUMENT)
OPERATIONS = [
    ("GET", DEVICE, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]),
    ("POST", DEVICE, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]),
    ("GET", "/device/push/openapi.yaml", [GenerationMode.POSITIVE]),  # no parameter to get wrong
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "modes"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_fuzzing_finds_no_server_error_and_no_undocumented_response(
    live_server, keys, fx_user, push_factory, method, path, modes
):
    world = World(keys, fx_user, push_factory(fx_user))
    operation = SCHEMA[path][method]
    strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in modes))

    @settings(
        max_examples=150 if method == "POST" else 40,
        deadline=None,
        database=None,  # no .hypothesis folder in the project
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    @given(case=strategy, how=st.sampled_from(["as generated", "known serial", "signed"]), data=st.data())
    def fuzz(case, how, data):
        world.reset()
        make_authentic(case, world, how, data)
        case.call_and_validate(base_url=live_server.url, checks=CHECKS)

    fuzz()


def _error_code_905_only(document):
    error = document["components"]["schemas"]["ErrorResponse"]["properties"]["result"]["properties"]["error"]
    error["properties"]["code"]["enum"] = [905]


def _no_400_for_polls(document):
    del document["paths"][DEVICE]["get"]["responses"]["400"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("mutate", "expected"),
    [(_error_code_905_only, "Response violates schema"), (_no_400_for_polls, "Undocumented status code")],
    ids=["error code 905 only", "no 400"],
)
def test_the_fuzzers_checks_catch_a_document_that_disagrees(live_server, mutate, expected):
    """The same checks as the fuzzing, on a poll without parameters (400, code 10), bite on a wrong document."""
    document = load_document()
    schemathesis.openapi.from_dict(document)[DEVICE]["GET"].Case(query={}).call_and_validate(
        base_url=live_server.url, checks=CHECKS
    )
    mutate(document)
    case = schemathesis.openapi.from_dict(document)[DEVICE]["GET"].Case(query={})
    with pytest.raises(BaseExceptionGroup, match=expected):
        case.call_and_validate(base_url=live_server.url, checks=CHECKS)


# -- bugs the document and the fuzzer found, fixed in the server ---------------------------------


def _unknown_algorithm_pubkey() -> str:
    """A well-formed SubjectPublicKeyInfo whose algorithm OID (1.3.101.99) no library knows."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    der = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der.replace(bytes.fromhex("06032b6570"), bytes.fromhex("06032b6563"))).decode()


@pytest.mark.django_db
def test_a_public_key_of_an_unknown_algorithm_is_refused_not_a_crash():
    response = Client(raise_request_exception=False).post(
        DEVICE,
        {"enrollment_credential": "00" * 20, "serial": "JWP000000001", "pubkey": _unknown_algorithm_pubkey()},
        secure=True,
    )
    assert conforms(response, "post", "400", "ErrorResponse")["result"]["error"]["code"] == 10


def test_a_signed_non_ascii_number_is_a_wrong_number_not_a_crash(client, keys, fx_user, fx_push):
    log_in(client, "fx", "taro01")
    challenge = challenge_of(fx_user)
    serial, presence = challenge.authenticator.serial, "٦٤"  # Arabic-Indic digits
    signature = app_signature(keys["app"], f"{challenge.nonce}|{serial}|{presence}")
    response = Client(raise_request_exception=False).post(
        DEVICE,
        {"nonce": challenge.nonce, "serial": serial, "signature": signature, "presence_answer": presence},
        secure=True,
    )
    assert conforms(response, "post", "200", "AnswerResponse")["result"]["value"] is False
    assert PushChallenge.objects.get(pk=challenge.pk).status == PushChallenge.Status.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("request_kind", ["GET, 1001 parameters", "POST, 1001 fields", "POST, body over 2.5 MB"])
def test_oversized_requests_are_refused_in_the_error_shape(request_kind):
    browser = Client(raise_request_exception=False)
    many = {f"f{i}": "x" for i in range(1001)}
    if request_kind.startswith("GET"):
        response, method = browser.get(DEVICE, many, secure=True), "get"
    elif "fields" in request_kind:
        response, method = browser.post(DEVICE, many, secure=True), "post"
    else:
        body = "nonce=" + "x" * (2_621_440 + 1)
        response = browser.post(DEVICE, body, content_type="application/x-www-form-urlencoded", secure=True)
        method = "post"
    conforms(response, method, "400", "ErrorResponse")


def _nul_request(keys, serial: str, where: str):
    """A request with a NUL character where `where` says; otherwise as the app sends it."""
    browser, stamp = Client(raise_request_exception=False), _stamp(0)
    if where == "poll serial (fresh timestamp, no key needed)":
        return "get", browser.get(
            DEVICE, {"serial": serial + "\x00", "timestamp": stamp, "signature": "S"}, secure=True
        )
    if where == "answer nonce":
        return "post", browser.post(DEVICE, {"nonce": "N\x00", "serial": serial, "signature": "S"}, secure=True)
    if where == "answer serial":
        return "post", browser.post(DEVICE, {"nonce": "N", "serial": serial + "\x00", "signature": "S"}, secure=True)
    if where == "token update serial (fresh timestamp, no key needed)":
        fields = {"new_fb_token": "T", "serial": serial + "\x00", "timestamp": stamp, "signature": "S"}
        return "post", browser.post(DEVICE, fields, secure=True)
    if where == "rollout serial (any RSA-4096 key, no credential needed)":
        der = (
            keys["server"]
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        fields = {"enrollment_credential": "00", "serial": serial + "\x00", "pubkey": base64.b64encode(der).decode()}
        return "post", browser.post(DEVICE, fields, secure=True)
    # "token update new_fb_token (signed by the app)"
    fields = {"new_fb_token": "T\x00", "serial": serial, "timestamp": stamp}
    fields["signature"] = app_signature(keys["app"], f"{fields['new_fb_token']}|{serial}|{stamp}")
    return "post", browser.post(DEVICE, fields, secure=True)


@pytest.mark.parametrize(
    "where",
    [
        "poll serial (fresh timestamp, no key needed)",
        "answer nonce",
        "answer serial",
        "token update serial (fresh timestamp, no key needed)",
        "rollout serial (any RSA-4096 key, no credential needed)",
        "token update new_fb_token (signed by the app)",
    ],
)
def test_a_nul_character_is_refused_not_a_crash(keys, fx_push, where):
    method, response = _nul_request(keys, fx_push.authenticator.serial, where)
    assert response.status_code in (200, 400), response.content[:300]
    document = load_document()
    validator(document, response_schema_pointer(document, method, str(response.status_code))).validate(response.json())
