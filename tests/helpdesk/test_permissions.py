"""Who may do what: customer staff, service manager, help desk and bank admin × every staff action.

Each case runs the action as that role, from a session that passed the second factor, and
checks both the answer and whether anything changed: a refusal must change nothing.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from auth_enforcement.models import AuthEvent, Registration
from jweboffice.contracts.models import User
from tests.conftest import PASSWORD, register_totp, signed_in_as, staff_member

ROLES = ["staff", "manager", "helpdesk", "bank_admin"]
REASON = "本人確認のうえ対応(権限テスト)"
RESET_FORM = {"reset-reason": REASON, "reset-identity_check": "callback", "reset-confirmed": "on"}
ACTIONS = {
    # name: (method, path with {target}/{me}, data)
    "helpdesk lookup": ("get", "/helpdesk/", {}),
    "helpdesk user card": ("get", "/helpdesk/users/{target}/", {}),
    "helpdesk unlock": ("post", "/helpdesk/users/{target}/unlock/", {"unlock-reason": REASON}),
    "helpdesk reset": ("post", "/helpdesk/users/{target}/reset/", RESET_FORM),
    "admin user list": ("get", "/admin/contracts/user/", {}),
    "admin add user": ("get", "/admin/contracts/user/add/", {}),
    "admin reset action": (
        "post",
        "/admin/contracts/user/",
        {"action": "reset_factor", ACTION_CHECKBOX_NAME: "{target}", "index": 0, "apply": 1, "reason": REASON},
    ),
    "admin unlock action": (
        "post",
        "/admin/contracts/user/",
        {"action": "unlock_factor", ACTION_CHECKBOX_NAME: "{target}", "index": 0, "apply": 1, "reason": REASON},
    ),
    "admin audit export": (
        "post",
        "/admin/auth_enforcement/authevent/",
        {"action": "export_csv", "select_across": 1, ACTION_CHECKBOX_NAME: "0", "index": 0},
    ),
    "admin token import page": ("get", "/admin/auth_enforcement/authenticator/import/", {}),
    "admin token bind page": ("get", "/admin/auth_enforcement/authenticator/bind/", {}),
    "manager page": ("get", "/manager/", {}),
    "manager unlock staff": ("post", "/manager/users/{target}/unlock/", {"unlock-reason": REASON}),
    "manager reset staff": ("post", "/manager/users/{target}/reset/", {"reset-reason": REASON}),
    "manager reset own factor": ("post", "/manager/users/{me}/reset/", {"reset-reason": REASON}),
}
# The answer per role, in the order of ROLES; "302*" means the admin sends the user to its login.
# A state-changing action changes something exactly when the answer is marked with "+".
EXPECTED = {
    "helpdesk lookup": ["404", "404", "200", "200"],
    "helpdesk user card": ["404", "404", "200", "200"],
    "helpdesk unlock": ["404", "404", "302+", "302+"],
    "helpdesk reset": ["404", "404", "302+", "302+"],
    "admin user list": ["302*", "302*", "200", "200"],
    "admin add user": ["302*", "302*", "403", "200"],
    "admin reset action": ["302*", "302*", "200", "302+"],
    "admin unlock action": ["302*", "302*", "200", "302+"],
    "admin audit export": ["302*", "302*", "200", "200+"],
    "admin token import page": ["302*", "302*", "403", "200"],
    "admin token bind page": ["302*", "302*", "403", "200"],
    "manager page": ["404", "200", "404", "404"],
    "manager unlock staff": ["404", "302+", "404", "404"],
    "manager reset staff": ["404", "302+", "404", "404"],
    "manager reset own factor": ["404", "403", "404", "404"],
}
CASES = [(action, role, EXPECTED[action][index]) for action in ACTIONS for index, role in enumerate(ROLES)]


@pytest.fixture
def world(fx_user, fx_contract, settings):
    """A contract with its manager (fx_user) and two staff; the target's credential is locked."""
    # Passwords only where a case logs in (set in the test): each hash costs a tenth of a second.
    target = User.objects.create_user("staff01", None, contract=fx_contract, role="staff", name="対象 花子")
    colleague = User.objects.create_user("staff02", None, contract=fx_contract, role="staff", name="同僚 次郎")
    registration = register_totp(target)
    for _ in range(settings.JWEB_LOCK_AFTER_FAILURES):
        registration.authenticator.record_failure()
    actors = {
        "staff": colleague,
        "manager": fx_user,
        "helpdesk": staff_member("desk01", "helpdesk", password=None),
        "bank_admin": staff_member("officer01", "bank_admin", password=None),
    }
    return target, actors


def state(target: User, manager: User) -> tuple:
    registration = Registration.objects.for_login(target)
    return (
        registration is not None,
        registration is not None and registration.authenticator.is_locked,
        Registration.objects.for_login(manager) is not None,
        AuthEvent.objects.filter(
            kind__in=[AuthEvent.Kind.RESET, AuthEvent.Kind.UNLOCKED, AuthEvent.Kind.AUDIT_EXPORTED]
        ).count(),
    )


def fill(value, target: User, me: User):
    if isinstance(value, str):
        return value.format(target=target.pk, me=me.pk)
    return value


@pytest.mark.parametrize(("action", "role", "expected"), CASES, ids=[f"{a}-{r}" for a, r, _ in CASES])
def test_permission_matrix(world, action, role, expected):
    target, actors = world
    actor = actors[role]
    actor.set_password(PASSWORD)
    actor.save()
    client = signed_in_as(actor)
    method, path, data = ACTIONS[action]
    before = state(target, actors["manager"])
    response = getattr(client, method)(
        fill(path, target, actor), {key: fill(value, target, actor) for key, value in data.items()}
    )
    status = expected.rstrip("+*")
    assert str(response.status_code) == status
    if expected.endswith("*"):
        assert response["Location"].startswith("/admin/login/")  # which sends to the bank entrance
    changed = state(target, actors["manager"]) != before
    assert changed == expected.endswith("+"), f"{action} as {role}: changed={changed}"
