from django.conf import settings
from django.http import HttpRequest


def portal(request: HttpRequest) -> dict:
    """Add the help desk's contact details that every page shows."""
    return {"helpdesk_phone": settings.JWEB_HELPDESK_PHONE, "helpdesk_hours": settings.JWEB_HELPDESK_HOURS}
