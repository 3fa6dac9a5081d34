import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse


def portal(request: HttpRequest) -> dict:
    """Add the help desk's contact details and the layout's links, which every page shows."""
    return {
        "helpdesk_phone": settings.JWEB_HELPDESK_PHONE,
        "helpdesk_hours": settings.JWEB_HELPDESK_HOURS,
        "layout": _layout(get_script_prefix(), get_urlconf()),
    }


@functools.lru_cache(maxsize=8)
def _layout(prefix: str, urlconf: str | None) -> dict[str, str]:
    """The base layout's links and stylesheet, worked out once per script prefix.

    They are the same on every page: {% url %} and {% static %} cost 40-50 µs each a page in
    template machinery (a fifth of the layout's rendering, on every page of a login).
    """
    return {
        "entrance": reverse("portal:entrance", urlconf=urlconf),
        "logout": reverse("auth_enforcement:logout", urlconf=urlconf),
        "set_language": reverse("set_language", urlconf=urlconf),
        "notice": reverse("portal:notice", urlconf=urlconf),
        "stylesheet": static("css/portal.css"),
    }


@receiver(setting_changed)
def _forget_layout(**kwargs) -> None:
    """Work the links out afresh when a test changes the settings (STATIC_URL, STORAGES, ...)."""
    _layout.cache_clear()
