"""Sign-in, sign-out and enrollment of the second factor."""

from __future__ import annotations

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import load_backend, logout
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from two_factor.forms import AuthenticationTokenForm, BackupTokenForm
from two_factor.views import LoginView

from auth_enforcement import flows, push
from auth_enforcement import start_of_use as start_of_use_flows
from auth_enforcement.editions import BANK_ENTRANCE, Edition
from auth_enforcement.forms import CurrentCodeForm, EntranceLoginForm, StartOfUseForm, TOTPEnrollmentForm
from auth_enforcement.models import Authenticator, AuthEvent, MandatePolicy, PushChallenge, Registration
from jweboffice.statements import JoinedRead

# The login's read of the active registration with its credential, user, contract and customer.
ACTIVE_REGISTRATION = JoinedRead(Registration, "authenticator", "user__contract__customer")

ENTRANCE_TITLES = {
    Edition.FX: _("JWEBOFFICE FX edition — login"),
    Edition.DOMESTIC: _("JWEBOFFICE (domestic edition) — login"),
    BANK_ENTRANCE: _("Bank staff — login"),
}


def entrance_login_url(entrance: str) -> str:
    """Return the login page of an entrance."""
    return resolve_url(f"auth_enforcement:login-{entrance}")


class EntranceLoginView(LoginView):
    """django-two-factor-auth's login wizard, bound to the users of one entrance."""

    entrance: str = Edition.FX
    template_name = "auth_enforcement/login.html"
    form_list = (
        (LoginView.AUTH_STEP, EntranceLoginForm),
        (LoginView.TOKEN_STEP, AuthenticationTokenForm),
        (LoginView.BACKUP_STEP, BackupTokenForm),
    )

    # The login is the workload of mandate day: every query it saves is a query per login.
    # django-otp asks every installed device model (static, TOTP, ours) each time two_factor
    # wants "the default device", several times a step; a user here has one registration.
    def has_token_step(self) -> bool:
        return self.get_device() is not None and not self.remember_agent

    def has_backup_step(self) -> bool:
        return False  # no backup codes: a lost factor is reset by the help desk

    condition_dict = {LoginView.TOKEN_STEP: has_token_step, LoginView.BACKUP_STEP: has_backup_step}

    def get_device(self, step=None):
        """Return the user's active registration, looked up once per request.

        On the code step the user comes in the same read (two_factor would read them first);
        after the password, the user the form authenticated is put on it.
        """
        if self.device_cache is None:
            known = self.user_cache
            pk = known.pk if known else self.storage.data.get("user_pk")
            if not pk:
                return None
            registration = ACTIVE_REGISTRATION.one(
                "t0.user_id = %s AND t0.revoked_at IS NULL",
                [Registration._meta.get_field("user").target_field.to_python(pk)],
                order_by="t0.id",
            )
            if registration is None:
                return None
            if known:
                Registration._meta.get_field("user").set_cached_value(registration, known)
            else:
                # As two_factor's storage does (backend.get_user): an inactive user or contract is nobody.
                backend_path = self.storage.data.get("user_backend")
                if not backend_path or not load_backend(backend_path).user_can_authenticate(registration.user):
                    return None
                registration.user.backend = backend_path
                self.user_cache = registration.user
            self.device_cache = registration
        return self.device_cache

    def done(self, form_list, **kwargs):
        response = super().done(form_list, **kwargs)
        # Start the session clocks now, with the session write the login makes anyway, rather
        # than with one more write on the first page after it.
        flows.start_session_clocks(self.request)
        return response

    def get_form_kwargs(self, step=None):
        kwargs = super().get_form_kwargs(step)
        if step == self.AUTH_STEP:
            kwargs["entrance"] = self.entrance
        return kwargs

    def process_step(self, form):
        data = super().process_step(form)
        if self.steps.current == self.AUTH_STEP and form.is_valid():
            flows.record(AuthEvent.Kind.LOGIN_PASSWORD_OK, self.request, subject=form.user_cache, actor=form.user_cache)
            self.user_cache = form.user_cache  # two_factor would read it back from the database
            # The step list was worked out before the password, with whatever user the session
            # still held (a login left at the code step): forget that user's credential, or the
            # code page would ask for it (a push to their phone).
            self.device_cache = None
        return data

    def get_success_url(self) -> str:
        default = "admin:index" if self.entrance == BANK_ENTRANCE else "portal:home"
        return self.get_redirect_url() or resolve_url(default)

    def get_context_data(self, form, **kwargs):
        # Skip LoginView's own additions (the user's other devices, a count of backup codes):
        # two queries a step for things this portal does not offer.
        context = super(LoginView, self).get_context_data(form, **kwargs)
        context["entrance"] = self.entrance
        context["entrance_title"] = ENTRANCE_TITLES[self.entrance]
        context["push"] = getattr(self, "push_waiting", None)
        # Where the user was going (a page that sent them to log in), if it is on this site:
        # the form carries it through both steps; empty, it would hide the address's ?next=.
        context["next"] = self.get_redirect_url()
        return context

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if request.session.session_key is None and list(request.session.keys()) == [self.storage.prefix]:
            # A visitor who only looks at the form leaves no session row behind (a crawler or a
            # flood of page views cannot fill the session table), and a login costs one write
            # less: the first step stores nothing that its POST does not start afresh.
            response.render()
            del request.session[self.storage.prefix]
            request.session.modified = False
        return response

    def post(self, *args, **kwargs):
        at_code_step = self.steps.current == self.TOKEN_STEP
        if at_code_step and self.get_device() is not None and self.get_user().password_locked:
            # Locked by wrong passwords since this user's password was accepted (the row was
            # just read with the credential): neither a code nor "send again" goes on with it.
            self.storage.reset()
            messages.error(self.request, _("The login could not be completed. Please log in again."))
            return redirect(self.request.get_full_path())
        # "Send again" on the push step: a new challenge (rate-limited), same login attempt.
        if self.request.POST.get("push_resend") and at_code_step and not self.expired:
            self.push_resend = True
            return self.render(self.get_form())
        if not at_code_step:
            # Not in a transaction: the password step sends the push, and an FCM send must
            # neither hold a transaction open nor reach the phone before its challenge is stored.
            return super().post(*args, **kwargs)
        # The code (or approval) used, the new session and the audit lines commit together or
        # not at all: a database that fails midway leaves no code marked used without the
        # session it opened, and no approval consumed for nothing.
        with transaction.atomic():
            response = super().post(*args, **kwargs)
            if self.request.user.is_authenticated:
                self.request.session.save()
        return response

    def render(self, form=None, **kwargs):
        if self.steps.current == self.TOKEN_STEP:
            registration = self.get_device()
            if registration is not None and registration.authenticator.kind == Authenticator.Kind.PUSH:
                self.push_waiting = push.start_waiting(
                    self.request,
                    self.get_user(),
                    registration.authenticator,
                    PushChallenge.Purpose.LOGIN,
                    resend=getattr(self, "push_resend", False),
                )
        return super().render(form, **kwargs)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """End the session on the server and go back to the user's entrance."""
    entrance = getattr(request.user, "entrance", None)
    logout(request)
    return redirect(entrance_login_url(entrance) if entrance else "portal:entrance")


# Logging out must work with an expired or half-finished session too.
logout_view = login_not_required(logout_view)


def second_factor_not_required(view_func):
    """Mark a view that a signed-in user without a second factor may reach after the mandate."""
    view_func.second_factor_required = False
    return view_func


def already_registered(request: HttpRequest) -> bool:
    """A second registration is only a method switch, after re-proving the current factor."""
    if Registration.objects.for_login(request.user) and not flows.switch_allowed(request):
        messages.info(request, _("You already have a registered authenticator."))
        return True
    return False


def _mandate_context(user) -> dict:
    if user.edition is None:
        return {"mandate": None, "mandate_in_force": True}
    policy = MandatePolicy.objects.for_edition(user.edition)
    return {"mandate": policy, "mandate_in_force": policy.in_force()}


@second_factor_not_required
@never_cache
def enroll(request: HttpRequest) -> HttpResponse:
    """Show the user's second-factor status and the methods to register."""
    user = request.user
    registration = Registration.objects.for_login(user)
    bindings = registration.authenticator.registrations.active().select_related("user") if registration else []
    return render(
        request,
        "auth_enforcement/enroll.html",
        {
            "registration": registration,
            "bindings": bindings,
            "twin": None if registration else start_of_use_flows.domestic_twin(user),
            "can_link": registration is None and start_of_use_flows.domestic_registrations(user).exists(),
            "verified": flows.is_verified(request),
            "switching": registration is not None and flows.switch_allowed(request),
            **_mandate_context(user),
        },
    )


@second_factor_not_required
@never_cache
def enroll_totp(request: HttpRequest) -> HttpResponse:
    """Register a TOTP generator: QR code and key, confirmed by two consecutive codes."""
    if already_registered(request):
        return redirect("auth_enforcement:enroll")
    form = TOTPEnrollmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = flows.confirm_totp_enrollment(
            request, form.cleaned_data["first_code"], form.cleaned_data["second_code"]
        )
        if result.registration:
            messages.success(
                request,
                _("Your one-time password generator is registered. From now on, enter its code after your password."),
            )
            return redirect("portal:home")
        if result.expired:
            messages.error(
                request,
                _("The registration took too long and was restarted. Please add the new key to your generator."),
            )
            return redirect("auth_enforcement:enroll-totp")
        form.add_error(
            None,
            _(
                "The two one-time passwords do not match this key. Enter the number shown now, "
                "wait until it changes, then enter the next one."
            ),
        )
    authenticator = flows.start_totp_enrollment(request)
    uri = authenticator.provisioning_uri(request.user.login_id)
    secret = authenticator.totp_secret
    return render(
        request,
        "auth_enforcement/enroll_totp.html",
        {
            "form": form,
            "qr": segno.make(uri, error="m").svg_data_uri(scale=5, border=2),
            "key_groups": [secret[i : i + 4] for i in range(0, len(secret), 4)],
            "serial": authenticator.serial,
        },
    )


@second_factor_not_required
@require_POST
def postpone(request: HttpRequest) -> HttpResponse:
    """Register later: allowed only before the mandate."""
    if not flows.postpone_registration(request):
        messages.error(request, _("Registration can no longer be postponed: the second factor is now mandatory."))
        return redirect("auth_enforcement:enroll")
    return redirect("portal:home")


@login_not_required  # the user is half-way through the login: password done, approval pending
@second_factor_not_required
@never_cache
def push_status(request: HttpRequest) -> JsonResponse:
    """Tell the waiting page whether the phone has answered (polled about once a second)."""
    return JsonResponse({"status": push.waiting_status(request)})


@second_factor_not_required
@never_cache
def enroll_push(request: HttpRequest) -> HttpResponse:
    """Register the smartphone app: QR code with a one-time credential, then a first approval."""
    if already_registered(request):
        return redirect("auth_enforcement:enroll")
    context: dict = {"status_url": reverse("auth_enforcement:enroll-push-status")}
    pending = push.pending_push_enrollment(request)
    if pending is not None and pending.app_public_key:
        # The app has its keys: the first approval, with number matching, confirms it.
        context["waiting"] = push.start_waiting(
            request, request.user, pending, PushChallenge.Purpose.ENROLLMENT, resend=bool(request.POST.get("resend"))
        )
    else:
        # A shown one-time credential is never shown again: each visit issues a new one.
        enrollment = push.begin_push_enrollment(request)
        context.update(
            qr=segno.make(enrollment.qr_uri, error="m").svg_data_uri(scale=4, border=2),
            qr_uri=enrollment.qr_uri,
            serial=enrollment.authenticator.serial,
            minutes=settings.JWEB_PUSH_ENROLLMENT_SECONDS // 60,
        )
    return render(request, "auth_enforcement/enroll_push.html", context)


@second_factor_not_required
@never_cache
def enroll_push_status(request: HttpRequest) -> JsonResponse:
    """Tell the enrollment page whether the app has rolled out and approved."""
    status = push.push_enrollment_status(request)
    body = {"status": status}
    if status == "done":
        body["next"] = reverse("portal:home")
    return JsonResponse(body)


@never_cache
def switch_method(request: HttpRequest) -> HttpResponse:
    """Before switching methods, prove the current factor again (a verified session is not enough)."""
    registration = Registration.objects.for_login(request.user)
    if registration is None or not flows.is_verified(request):
        return redirect("auth_enforcement:enroll")
    context: dict = {"registration": registration, "status_url": reverse("auth_enforcement:switch-status")}
    if registration.authenticator.kind == Authenticator.Kind.TOTP:
        form = CurrentCodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            if flows.reprove_with_code(request, registration, form.cleaned_data["code"]):
                return redirect("auth_enforcement:enroll")
            form.add_error("code", _("The one-time password is not correct."))
        context["form"] = form
    else:
        context["waiting"] = push.start_waiting(
            request,
            request.user,
            registration.authenticator,
            PushChallenge.Purpose.REAUTH,
            resend=bool(request.POST.get("resend")),
        )
    return render(request, "auth_enforcement/switch.html", context)


@never_cache
def switch_status(request: HttpRequest) -> JsonResponse:
    """Tell the switch page whether the phone approved the re-proof."""
    status = push.reauth_status(request)
    return JsonResponse(
        {"status": status, **({"next": reverse("auth_enforcement:enroll")} if status == "done" else {})}
    )


@second_factor_not_required
@never_cache
def start_of_use(request: HttpRequest) -> HttpResponse:
    """FX start-of-use registration (利用開始登録) with the domestic edition's token or app."""
    user = request.user
    if user.edition != "fx" or (Registration.objects.for_login(user) and not flows.switch_allowed(request)):
        return redirect("auth_enforcement:enroll")
    form = StartOfUseForm(request.POST or None)
    context: dict = {"form": form, "status_url": reverse("auth_enforcement:start-of-use-status")}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if start_of_use_flows.too_many_attempts(user):
            form.add_error(None, _("Too many attempts. Please wait 15 minutes and try again."))
        elif data["method"] == "push":
            context["waiting"] = start_of_use_flows.start_push_link(request, data["identifier"])
            return render(request, "auth_enforcement/start_of_use.html", context)
        elif start_of_use_flows.link_with_codes(request, data["identifier"], data["first_code"], data["second_code"]):
            messages.success(
                request, _("Start of use is registered: log in to the FX edition with the same generator.")
            )
            return redirect("portal:home")
        else:
            # The same words for an unknown ID, another customer's serial and wrong codes.
            form.add_error(None, _("The credential could not be confirmed. Check the user ID or serial and the codes."))
    return render(request, "auth_enforcement/start_of_use.html", context)


@second_factor_not_required
@never_cache
def start_of_use_status(request: HttpRequest) -> JsonResponse:
    """Tell the start-of-use page whether the domestic app approved."""
    status = start_of_use_flows.push_link_status(request)
    return JsonResponse({"status": status, **({"next": reverse("portal:home")} if status == "done" else {})})


@require_POST
def report_lost(request: HttpRequest) -> HttpResponse:
    """The user reports the device lost: revoked in both editions, every session ended."""
    registration = Registration.objects.for_login(request.user)
    if registration is None:
        return redirect("auth_enforcement:enroll")
    if request.POST.get("confirm") != "yes":
        # One click must not end a working factor: the box says what it does.
        messages.error(request, _("Tick the box to confirm that the device is lost or stolen. Nothing was changed."))
        return redirect("auth_enforcement:enroll")
    entrance = request.user.entrance
    start_of_use_flows.report_lost(request, registration.authenticator, reason="reported lost by the user")
    logout(request)
    messages.info(
        request, _("Your authenticator has been revoked in every edition. Log in again to register a new one.")
    )
    return redirect(entrance_login_url(entrance))


@require_POST
def unlink(request: HttpRequest) -> HttpResponse:
    """Stop using the domestic credential in the FX edition; the domestic edition keeps it."""
    registration = Registration.objects.for_login(request.user)
    if registration is None or registration.origin != Registration.Origin.DOMESTIC_LINK:
        return redirect("auth_enforcement:enroll")
    entrance = request.user.entrance
    start_of_use_flows.unlink_fx(request, registration)
    logout(request)
    messages.info(request, _("The FX edition no longer uses your domestic-edition credential."))
    return redirect(entrance_login_url(entrance))
