"""Admin for bank staff: mandates (audited), credentials and registrations (no secrets), audit trail."""

from __future__ import annotations

import json
from datetime import UTC

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from auth_enforcement import flows
from auth_enforcement.bank_tokens_admin import BankTokenAdminMixin
from auth_enforcement.csv_export import stream_csv
from auth_enforcement.forms import ReasonForm
from auth_enforcement.models import Authenticator, AuthEvent, MandatePolicy, Registration


class AuditedAdmin(admin.ModelAdmin):
    """Copy every change made in the admin into the audit trail: who, from where, what."""

    def _audit(self, request, obj, action: str, change) -> None:
        subject = obj if isinstance(obj, get_user_model()) else None
        flows.record(
            AuthEvent.Kind.ADMIN_ACTION,
            request,
            subject=subject,
            model=obj._meta.label,
            object_id=str(obj.pk),
            object=str(obj)[:100],
            action=action,
            change=change if isinstance(change, (list, str)) else str(change),
        )

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._audit(request, obj, "added", message)
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._audit(request, obj, "changed", message)
        return entry

    def log_deletions(self, request, queryset):
        objects = list(queryset)
        entries = super().log_deletions(request, queryset)
        for obj in objects:
            self._audit(request, obj, "deleted", "")
        return entries

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("auth_enforcement.export_authevent")


def ask_reason(modeladmin, request, queryset, title: str) -> tuple[str | None, TemplateResponse | None]:
    """Return the reason staff gave for an admin action, or the page that asks for it."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["reason"], None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "form": form,
        "objects": queryset,
        "opts": modeladmin.model._meta,
        "action": request.POST.get("action", ""),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return None, TemplateResponse(request, "admin/reason_action.html", context)


@admin.register(MandatePolicy)
class MandatePolicyAdmin(AuditedAdmin):
    list_display = ("edition", "effective_at", "warning_days", "updated_at")
    readonly_fields = ("edition", "updated_at")
    fields = ("edition", "effective_at", "warning_days", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False  # one row per edition, created from the settings' defaults

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        flows.change_mandate(
            request,
            obj.edition,
            effective_at=form.cleaned_data["effective_at"],
            warning_days=form.cleaned_data["warning_days"],
            via="admin",
        )


@admin.register(Authenticator)
class AuthenticatorAdmin(BankTokenAdminMixin, AuditedAdmin):
    # The seed is never shown: secret_sealed is neither listed nor in any form.
    list_display = ("serial", "kind", "status", "customer", "locked_at", "throttling_failure_count", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("=serial",)
    fields = ("serial", "kind", "status", "customer", "locked_at", "throttling_failure_count", "created_at")
    readonly_fields = fields

    actions = ["unlock", "revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    # A credential ends by revocation (a reason, an audit line, a mail, the sessions ended);
    # deleting its row would end it with none of these, and lose what the trail refers to.
    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Unlock the selected authenticators"), permissions=["change"])
    def unlock(self, request, queryset):
        reason, page = ask_reason(self, request, queryset, _("Unlock the selected authenticators"))
        if page:
            return page
        for authenticator in queryset:
            flows.unlock_authenticator(request, authenticator, reason=reason, via="admin")
        messages.success(request, _("Authenticators unlocked: %(count)d") % {"count": len(queryset)})
        return None

    @admin.action(description=_("Revoke the selected authenticators (every edition)"), permissions=["change"])
    def revoke(self, request, queryset):
        reason, page = ask_reason(self, request, queryset, _("Revoke the selected authenticators (every edition)"))
        if page:
            return page
        revoked = 0
        for authenticator in queryset.exclude(status=Authenticator.Status.REVOKED):
            if authenticator.registrations.active().filter(user=request.user).exists():
                # A stolen staff session must not swap its own factor: another officer does it.
                messages.error(request, _("You cannot revoke your own authenticator: ask another administrator."))
                continue
            flows.revoke_authenticator(request, authenticator, kind=AuthEvent.Kind.RESET, reason=reason, via="admin")
            revoked += 1
        messages.success(request, _("Authenticators revoked: %(count)d") % {"count": revoked})
        return None


@admin.register(Registration)
class RegistrationAdmin(AuditedAdmin):
    list_display = ("user", "edition", "authenticator", "origin", "confirmed_at", "revoked_at")
    list_filter = ("origin", "user__edition")
    list_select_related = ("user", "authenticator")
    search_fields = ("user__login_id", "=authenticator__serial")
    fields = ("user", "authenticator", "origin", "confirmed_at", "revoked_at")
    readonly_fields = fields

    @admin.display(description=_("edition"), ordering="user__edition")
    def edition(self, registration) -> str:
        return registration.user.get_edition_display() or "—"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # as for credentials: a factor is reset (with a reason), never deleted


@admin.register(AuthEvent)
class AuthEventAdmin(AuditedAdmin):
    list_display = ("at", "kind", "actor", "subject", "edition", "ip")
    list_filter = ("kind", "edition")
    list_select_related = ("actor", "subject")
    search_fields = ("subject__login_id", "actor__login_id", "ip")
    date_hierarchy = "at"
    actions = ["export_csv"]

    @admin.action(description=_("Export the selected events as CSV"), permissions=["export"])
    def export_csv(self, request, queryset):
        """Stream the events (choose "select all" for the whole filtered trail); the export is audited too."""
        flows.record(AuthEvent.Kind.AUDIT_EXPORTED, request, count=queryset.count(), filters=request.GET.urlencode())
        events = queryset.select_related("actor", "subject").order_by("at", "pk").iterator(chunk_size=2000)
        rows = (
            [
                event.at.astimezone(UTC).isoformat(),
                event.kind,
                event.actor.account_key if event.actor else "",
                event.subject.account_key if event.subject else "",
                event.edition,
                event.ip or "",
                event.user_agent,
                json.dumps(event.details, ensure_ascii=False, sort_keys=True),
            ]
            for event in events
        )
        header = ["time_utc", "event", "actor", "subject", "edition", "ip", "user_agent", "details"]
        return stream_csv(f"jweboffice-audit-{timezone.now():%Y%m%d-%H%M%S}.csv", header, rows)

    # Append-only: nobody adds, changes or deletes a line here.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
