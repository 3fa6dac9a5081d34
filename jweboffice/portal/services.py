"""The banking services (各種サービス) of each edition, as the home page lists them."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from jweboffice.contracts.models import Edition


@dataclass(frozen=True)
class Service:
    slug: str
    title: str | Promise
    summary: str | Promise


SERVICES: dict[str, tuple[Service, ...]] = {
    Edition.FX: (
        Service("remittance", _("Foreign remittance"), _("Send money abroad in yen or foreign currency.")),
        Service("import-lc", _("Import letters of credit"), _("Apply for and amend import L/Cs.")),
        Service("forward-contracts", _("Forward exchange contracts"), _("Book and look up forward contracts.")),
        Service(
            "fx-deposits", _("Foreign-currency deposits"), _("Transfers between yen and foreign-currency accounts.")
        ),
        Service("fx-inquiry", _("Transaction inquiry"), _("Status and history of FX transactions.")),
        Service("approvals", _("Approvals"), _("Approve transactions prepared by staff.")),
    ),
    Edition.DOMESTIC: (
        Service("balance", _("Balance inquiry"), _("Balances of the registered accounts.")),
        Service("statements", _("Deposit and withdrawal details"), _("Account activity by date.")),
        Service("transfers", _("Transfers"), _("Transfers to other accounts and banks.")),
        Service("bulk-transfers", _("Bulk transfers"), _("Many transfers in one file.")),
        Service("payroll", _("Payroll and bonus transfers"), _("Salaries and bonuses to employees' accounts.")),
        Service("approvals", _("Approvals"), _("Approve transactions prepared by staff.")),
    ),
}


def services_for(edition: str) -> tuple[Service, ...]:
    """Return the services of an edition."""
    return SERVICES.get(edition, ())


def find_service(edition: str, slug: str) -> Service | None:
    """Return the service of an edition with this slug, or None."""
    return next((s for s in services_for(edition) if s.slug == slug), None)
