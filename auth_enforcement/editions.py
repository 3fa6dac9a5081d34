"""The editions of JWEBOFFICE and the entrances people sign in at.

This is the small interface between the second factor and the user model: a user has an
`edition` ("fx", "domestic", or None for bank staff), a `login_id`, an `entrance`, a
`customer`, and `end_sessions()`; the model has `normalize_login_id(raw)`.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Edition(models.TextChoices):
    DOMESTIC = "domestic", _("JWEBOFFICE (domestic edition)")
    FX = "fx", _("JWEBOFFICE FX edition")


# Where a person signs in: one entrance per edition, and one for bank staff.
BANK_ENTRANCE = "bank"
ENTRANCES = (Edition.FX, Edition.DOMESTIC, BANK_ENTRANCE)
