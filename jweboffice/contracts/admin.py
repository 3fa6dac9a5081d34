from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from auth_enforcement import flows
from auth_enforcement.admin import AuditedAdmin, ask_reason
from auth_enforcement.csv_export import stream_csv
from auth_enforcement.models import Authenticator, Registration
from jweboffice.contracts.models import Contract, Customer, User


class ContractInline(admin.TabularInline):
    model = Contract
    extra = 0
    fields = ("contract_number", "edition", "status")


@admin.register(Customer)
class CustomerAdmin(AuditedAdmin):
    list_display = ("name", "kana", "cif_number", "created_at")
    search_fields = ("name", "kana", "=cif_number")
    inlines = [ContractInline]


@admin.register(Contract)
class ContractAdmin(AuditedAdmin):
    list_display = ("contract_number", "customer", "edition", "status")
    list_filter = ("edition", "status")
    list_select_related = ("customer",)
    search_fields = ("=contract_number", "customer__name", "customer__kana")
    autocomplete_fields = ("customer",)


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("login_id", "contract", "role", "can_approve", "name", "email")


def _active_registration():
    return Registration.objects.active().filter(user=OuterRef("pk"))


class EnrolledFilter(admin.SimpleListFilter):
    title = _("second factor registered")
    parameter_name = "enrolled"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(Exists(_active_registration()))
        if self.value() == "no":
            return queryset.exclude(Exists(_active_registration()))
        return queryset


class MethodFilter(admin.SimpleListFilter):
    title = _("method")
    parameter_name = "method"

    def lookups(self, request, model_admin):
        return Authenticator.Kind.choices

    def queryset(self, request, queryset):
        if self.value() in Authenticator.Kind.values:
            return queryset.filter(Exists(_active_registration().filter(authenticator__kind=self.value())))
        return queryset


class LockedFilter(admin.SimpleListFilter):
    title = _("locked")
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        # Either lock stops a login: the credential's (wrong codes) or the password's.
        locked = Exists(_active_registration().filter(authenticator__locked_at__isnull=False)) | Q(
            password_locked_at__isnull=False
        )
        if self.value() == "yes":
            return queryset.filter(locked)
        if self.value() == "no":
            return queryset.exclude(locked)
        return queryset


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    add_form = UserCreationForm
    list_display = (
        "login_id",
        "edition",
        "name",
        "contract",
        "role",
        "second_factor",
        "factor_since",
        "password_lock",
        "is_active",
    )
    list_filter = ("edition", "role", EnrolledFilter, MethodFilter, LockedFilter, "can_approve", "is_active", "groups")
    list_select_related = ("contract__customer",)
    search_fields = (
        "login_id",
        "name",
        "email",
        "=contract__contract_number",
        "contract__customer__name",
        "contract__customer__kana",
    )
    search_help_text = _("User ID, name, e-mail, contract number, company name or kana, or a credential's serial.")
    ordering = ("account_key",)
    readonly_fields = ("edition", "last_login", "date_joined", "second_factor", "factor_since", "password_lock")
    autocomplete_fields = ("contract",)
    fieldsets = (
        (None, {"fields": ("login_id", "edition", "contract", "password")}),
        (_("Person"), {"fields": ("name", "email", "role", "can_approve")}),
        (_("Second factor"), {"fields": ("second_factor", "factor_since", "password_lock")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("login_id", "contract", "role", "can_approve", "name", "email", "password1", "password2")}),
    )
    filter_horizontal = ("groups",)
    actions = ["unlock_factor", "reset_factor", "export_csv"]

    def get_queryset(self, request):
        # One query for every row's registration and credential, however many rows (no N+1).
        return super().get_queryset(request).with_factor()

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        serial = search_term.strip().upper()
        if serial:
            # Every holder of the serial, past ones too, within the filters already chosen.
            holders = Registration.objects.filter(authenticator__serial=serial).values("user_id")
            found |= queryset.filter(pk__in=holders)
        return found, may_have_duplicates

    @admin.display(description=_("second factor"))
    def second_factor(self, user) -> str:
        registration = user.factor
        if registration is None:
            return _("not registered")
        authenticator = registration.authenticator
        text = f"{authenticator.get_kind_display()} {authenticator.serial}"
        return f"{text} ({_('locked')})" if authenticator.is_locked else text

    @admin.display(description=_("Password"))
    def password_lock(self, user) -> str:
        if not user.password_locked:
            return _("not locked")
        since = timezone.localtime(user.password_locked_at).strftime("%Y-%m-%d %H:%M")
        return _("login locked since %(at)s JST (too many wrong passwords)") % {"at": since}

    @admin.display(description=_("registered since"))
    def factor_since(self, user) -> str:
        registration = user.factor
        if registration is None:
            return "—"
        since = timezone.localtime(registration.confirmed_at).strftime("%Y-%m-%d")
        return f"{since} ({registration.get_origin_display()})"

    @admin.action(description=_("Unlock the login of the selected users"), permissions=["change"])
    def unlock_factor(self, request, queryset):
        reason, page = ask_reason(self, request, queryset, _("Unlock the login of the selected users"))
        if page:
            return page
        count = sum(bool(flows.unlock_login(request, user, reason=reason, via="admin")) for user in queryset)
        messages.success(request, _("Users unlocked: %(count)d") % {"count": count})
        return None

    @admin.action(description=_("Reset the second factor of the selected users"), permissions=["change"])
    def reset_factor(self, request, queryset):
        reason, page = ask_reason(self, request, queryset, _("Reset the second factor of the selected users"))
        if page:
            return page
        count = 0
        for user in queryset:
            if user.pk == request.user.pk:
                # A stolen staff session must not swap its own factor: another officer does it.
                messages.error(request, _("You cannot reset your own second factor: ask another administrator."))
                continue
            try:
                flows.reset_factor(request, user, reason=reason, via="admin")
            except flows.NothingToResetError:
                continue
            count += 1
        messages.success(request, _("Second factors reset: %(count)d") % {"count": count})
        return None

    @admin.action(description=_("Export the selected users as CSV"), permissions=["export"])
    def export_csv(self, request, queryset):
        """Users with their second-factor status; never a secret."""
        header = [
            "account_key", "login_id", "edition", "name", "company", "contract", "role", "approval",
            "active", "method", "serial", "origin", "registered_since", "locked", "failures", "last_login",
        ]  # fmt: skip

        def rows():
            for user in queryset.select_related("contract__customer").order_by("account_key").iterator(chunk_size=500):
                registration = user.factor
                authenticator = registration.authenticator if registration else None
                yield [
                    user.account_key, user.login_id, user.edition or "", user.name,
                    user.customer.name if user.contract_id else "",
                    user.contract.contract_number if user.contract_id else "",
                    user.role, user.can_approve, user.is_active,
                    authenticator.kind if authenticator else "", authenticator.serial if authenticator else "",
                    registration.origin if registration else "",
                    registration.confirmed_at.isoformat() if registration else "",
                    authenticator.is_locked if authenticator else "",
                    authenticator.throttling_failure_count if authenticator else "",
                    user.last_login.isoformat() if user.last_login else "",
                ]  # fmt: skip

        return stream_csv(f"jweboffice-users-{timezone.now():%Y%m%d-%H%M%S}.csv", header, rows())
