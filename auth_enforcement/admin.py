"""Admin for bank staff: mandates (audited), credentials and registrations (no secrets), audit trail."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from auth_enforcement import flows
from auth_enforcement.models import Authenticator, AuthEvent, MandatePolicy, Registration


@admin.register(MandatePolicy)
class MandatePolicyAdmin(admin.ModelAdmin):
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
class AuthenticatorAdmin(admin.ModelAdmin):
    # The seed is never shown: secret_sealed is neither listed nor in any form.
    list_display = ("serial", "kind", "status", "customer", "locked_at", "throttling_failure_count", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("=serial",)
    fields = ("serial", "kind", "status", "customer", "locked_at", "throttling_failure_count", "created_at")
    readonly_fields = fields

    actions = ["unlock"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=_("Unlock the selected authenticators"), permissions=["change"])
    def unlock(self, request, queryset) -> None:
        for authenticator in queryset:
            flows.unlock_authenticator(request, authenticator, reason="admin action")
        messages.success(request, _("Authenticators unlocked: %(count)d") % {"count": queryset.count()})


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
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


@admin.register(AuthEvent)
class AuthEventAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "actor", "subject", "edition", "ip")
    list_filter = ("kind", "edition")
    list_select_related = ("actor", "subject")
    search_fields = ("subject__login_id", "actor__login_id", "ip")
    date_hierarchy = "at"

    # Append-only: nobody adds, changes or deletes a line here.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
