from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.utils.translation import gettext_lazy as _

from jweboffice.contracts.models import Contract, Customer, User


class ContractInline(admin.TabularInline):
    model = Contract
    extra = 0
    fields = ("contract_number", "edition", "status")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "kana", "cif_number", "created_at")
    search_fields = ("name", "kana", "=cif_number")
    inlines = [ContractInline]


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    list_display = ("contract_number", "customer", "edition", "status")
    list_filter = ("edition", "status")
    list_select_related = ("customer",)
    search_fields = ("=contract_number", "customer__name", "customer__kana")
    autocomplete_fields = ("customer",)


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("login_id", "contract", "role", "can_approve", "name", "email")


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    add_form = UserCreationForm
    list_display = ("login_id", "edition", "name", "contract", "role", "can_approve", "is_active")
    list_filter = ("edition", "role", "can_approve", "is_active", "is_staff", "groups")
    list_select_related = ("contract__customer",)
    search_fields = ("login_id", "name", "email", "=contract__contract_number", "contract__customer__name")
    ordering = ("account_key",)
    readonly_fields = ("edition", "last_login", "date_joined")
    autocomplete_fields = ("contract",)
    fieldsets = (
        (None, {"fields": ("login_id", "edition", "contract", "password")}),
        (_("Person"), {"fields": ("name", "email", "role", "can_approve")}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("login_id", "contract", "role", "can_approve", "name", "email", "password1", "password2")}),
    )
    filter_horizontal = ("groups",)
