"""The device API the smartphone app speaks (privacyIDEA PUSH v1), at one URL.

GET polls; POST rolls out, answers or updates the push token, told apart by their fields.
Every refusal has the peer's error shape and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from auth_enforcement import push
from auth_enforcement.flows import record
from auth_enforcement.models import AuthEvent
from auth_enforcement.views import second_factor_not_required

MAX_FIELD = 4096  # longer fields are refused before any work


def ok(value, detail: dict | None = None, status: int = 200) -> JsonResponse:
    body: dict = {"result": {"status": True, "value": value}}
    if detail is not None:
        body["detail"] = detail
    return JsonResponse(body, status=status)


def error(exc: push.ProtocolError) -> JsonResponse:
    return JsonResponse(
        {"result": {"status": False, "error": {"code": exc.code, "message": str(exc)}}}, status=exc.status
    )


def _field(data, name: str, required: bool = True) -> str:
    value = data.get(name, "")
    if len(value) > MAX_FIELD:
        raise push.ProtocolError(f"{name} is too long")
    if "\x00" in value:  # no protocol field has one, and PostgreSQL cannot store one
        raise push.ProtocolError(f"{name} contains a NUL character")
    if required and not value:
        raise push.ProtocolError(f"{name} is missing")
    return value


@csrf_exempt  # the phone has no cookie; every request is signed or carries the one-time credential
@login_not_required
@second_factor_not_required
@never_cache
@require_http_methods(["GET", "POST"])
def device_push(request: HttpRequest) -> JsonResponse:
    """Poll (GET), roll out, answer a challenge, or update the push token (POST)."""
    try:
        if request.method == "GET":
            data = request.GET
            challenges = push.poll(_field(data, "serial"), _field(data, "timestamp"), _field(data, "signature"))
            return ok(challenges)
        data = request.POST
        if not data:
            return ok(False)  # iOS probes the URL with an empty POST before the rollout
        if "enrollment_credential" in data:
            authenticator = push.roll_out(
                _field(data, "serial"),
                _field(data, "enrollment_credential"),
                _field(data, "fbtoken", required=False),
                _field(data, "pubkey"),
                _field(data, "capabilities", required=False),
            )
            record(AuthEvent.Kind.PUSH_ROLLED_OUT, request, serial=authenticator.serial)
            detail = {
                "public_key": push.server_public_key(authenticator),
                "rollout_state": "enrolled",
                "serial": authenticator.serial,
            }
            return ok(True, detail)
        if "new_fb_token" in data:
            push.update_push_token(
                _field(data, "serial"),
                _field(data, "new_fb_token"),
                _field(data, "timestamp"),
                _field(data, "signature"),
            )
            return ok(True)
        result = push.answer(
            _field(data, "nonce"),
            _field(data, "serial"),
            _field(data, "signature"),
            _field(data, "presence_answer", required=False),
            decline=data.get("decline") in ("1", "true", "True"),
            reason=_field(data, "decline_reason", required=False),
        )
        return ok(result.accepted)
    except push.ProtocolError as exc:
        return error(exc)
    except (RequestDataTooBig, TooManyFieldsSent):
        # Django refuses the body itself; answer in the protocol's shape all the same.
        return error(push.ProtocolError("request too large"))


OPENAPI_DOCUMENT = Path(__file__).with_name("device_api.openapi.yaml")


@login_not_required
@second_factor_not_required
def openapi_document(request: HttpRequest) -> HttpResponse:
    """Serve the device API's OpenAPI 3.1 description (for app builders and the fuzzer)."""
    return HttpResponse(OPENAPI_DOCUMENT.read_bytes(), content_type="application/yaml; charset=utf-8")
