"""JWEBOFFICE portal settings: every deployment value comes from the environment."""

from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from jweboffice.env import (
    env_bool,
    env_cache,
    env_database,
    env_datetime,
    env_fernet_keys,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# Secure by default: DEBUG is off unless asked for (the demo command asks).
DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY", required=not DEBUG)
if not SECRET_KEY:
    SECRET_KEY = "django-insecure-demo-only-never-use-in-production-0123456789abcdef"
elif not DEBUG and (len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure")):
    raise ImproperlyConfigured("Environment variable SECRET_KEY must be at least 50 random characters.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "jweboffice.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "csp",
    "formtools",
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "jweboffice.contracts",
    "jweboffice.portal",
    "jweboffice.helpdesk",
    "auth_enforcement",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "auth_enforcement.middleware.SessionTimeoutMiddleware",
    "auth_enforcement.middleware.EntranceLoginRequiredMiddleware",
    "auth_enforcement.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "jweboffice.urls"
WSGI_APPLICATION = "jweboffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jweboffice.portal.context_processors.portal",
            ],
        },
    },
]

# Databases: an SQLite file for the demo; PostgreSQL (DATABASE_URL) in production and CI.
DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: a new PostgreSQL connection per request costs more than the
# rest of a verified request (see issue on benchmarks).
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=3600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL", "locmem://")
CACHES = {"default": env_cache("CACHE_URL", "locmem://")}

# Users and passwords
AUTH_USER_MODEL = "contracts.User"
AUTHENTICATION_BACKENDS = ["jweboffice.contracts.backends.EntranceBackend"]
# Argon2id first (ASVS 5.0 11.4.2); the others only verify legacy hashes and upgrade them.
PASSWORD_HASHERS = [
    "jweboffice.contracts.hashers.Argon2idHasher",  # also verifies Argon2 hashes of other costs
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# The cost, chosen from bench/login_throughput.py (README: "Password hashing"). Never below
# OWASP's minimum for Argon2id: 19 MiB with 2 passes (46 MiB with 1 pass).
JWEB_ARGON2_TIME_COST = env_int("JWEB_ARGON2_TIME_COST", 2, minimum=1, maximum=10)
JWEB_ARGON2_MEMORY_KIB = env_int(
    "JWEB_ARGON2_MEMORY_KIB", 19456, minimum=47104 if JWEB_ARGON2_TIME_COST == 1 else 19456, maximum=1048576
)
JWEB_ARGON2_PARALLELISM = env_int("JWEB_ARGON2_PARALLELISM", 1, minimum=1, maximum=8)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:entrance"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:entrance"

# Sessions live in the database only, so logout, expiry and revocation end them for every
# app server at once. Not behind the cache, even a shared one: a logout while Redis is down
# would delete the row but leave a copy in Redis that comes back to life with it, and the
# cache would save one primary-key read per request at most. Django's store, with a login's
# session written once instead of in seven statements (jweboffice/sessions.py).
SESSION_ENGINE = "jweboffice.sessions"
# Idle timeout 30 min, absolute 12 h (NIST SP 800-63B r3 §4.2.3, ASVS 3.3.2).
JWEB_SESSION_IDLE_SECONDS = env_int("JWEB_SESSION_IDLE_SECONDS", 30 * 60, minimum=60, maximum=30 * 60)
JWEB_SESSION_ABSOLUTE_SECONDS = env_int("JWEB_SESSION_ABSOLUTE_SECONDS", 12 * 3600, minimum=600, maximum=12 * 3600)
SESSION_COOKIE_AGE = JWEB_SESSION_IDLE_SECONDS
SESSION_EXPIRE_AT_BROWSER_CLOSE = True  # no persistent cookie expiry (r4 §5.1.1)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_NAME = "jweb_session"

# Second-factor login (django-two-factor-auth): the half-logged-in state expires.
TWO_FACTOR_LOGIN_TIMEOUT = env_int("JWEB_LOGIN_STEP_SECONDS", 300, minimum=30, maximum=600)
TWO_FACTOR_PATCH_ADMIN = False  # the admin has its own entrance, see jweboffice/urls.py
TWO_FACTOR_REMEMBER_COOKIE_AGE = None  # no "remember this browser": the notice asks every login

# HTTPS: on whenever DEBUG is off, unless TLS is explicitly said to end elsewhere.
JWEB_HTTPS = env_bool("JWEB_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = JWEB_HTTPS
CSRF_COOKIE_SECURE = JWEB_HTTPS
SECURE_SSL_REDIRECT = JWEB_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if JWEB_HTTPS else 0  # one year (ASVS 14.4.5)
SECURE_HSTS_INCLUDE_SUBDOMAINS = JWEB_HTTPS
SECURE_HSTS_PRELOAD = JWEB_HTTPS
if env_bool("JWEB_TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# Language and time: Japanese first, English second; Asia/Tokyo.
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", "日本語"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "jweboffice" / "locale"]
LANGUAGE_COOKIE_NAME = "jweb_language"
LANGUAGE_COOKIE_SECURE = JWEB_HTTPS
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "Asia/Tokyo"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "jweboffice-noreply@example.jp")
# Seconds before a mail server that does not answer gives up: a mail sent in a request (or
# the lock mails' background thread) must not hang on it.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1, maximum=120)

# The second factor. auth_enforcement knows the customer model only through this setting.
JWEB_CUSTOMER_MODEL = "contracts.Customer"
JWEB_TOTP_ISSUER = "JWEBOFFICE"
# Credential secrets (TOTP seeds, push server keys) are encrypted at rest with these Fernet
# keys: the first encrypts, every one decrypts, so a new key is rotated in at the front and
# `manage.py rotate_secrets` re-encrypts. Required outside DEBUG.
JWEB_SECRET_KEYS = env_fernet_keys("JWEB_SECRET_KEYS", SECRET_KEY if DEBUG else None)
# The mandate's default instants (the notice: FX from 2019-03-01, domestic since 2017-11),
# copied into each edition's MandatePolicy when it is first created; bank_admin edits them there.
JWEB_MANDATE_DEFAULTS = {
    "fx": env_datetime("JWEB_MANDATE_FX", "2019-03-01T00:00+09:00"),
    "domestic": env_datetime("JWEB_MANDATE_DOMESTIC", "2017-11-01T00:00+09:00"),
}
JWEB_MANDATE_WARNING_DAYS = env_int("JWEB_MANDATE_WARNING_DAYS", 60, minimum=0, maximum=365)
# Consecutive wrong codes before the credential locks until bank staff clear it
# (NIST SP 800-63B r4 §3.2.2 allows at most 100).
JWEB_LOCK_AFTER_FAILURES = env_int("JWEB_LOCK_AFTER_FAILURES", 10, minimum=1, maximum=100)
# Consecutive wrong passwords before the account locks until bank staff or the service manager
# clear it (the same limit): a user not yet registered could otherwise be guessed into and
# register the guesser's own factor. Locked, the login answers as for a wrong password.
JWEB_PASSWORD_LOCK_AFTER = env_int("JWEB_PASSWORD_LOCK_AFTER", 10, minimum=1, maximum=100)
# django-otp's growing delay: after n failures, wait factor * 2^(n-1) seconds.
JWEB_THROTTLE_FACTOR = env_int("JWEB_THROTTLE_FACTOR", 1, minimum=0, maximum=60)
# How long a started enrollment (QR shown, not yet confirmed) stays usable.
JWEB_ENROLLMENT_SECONDS = 600

# One-push authentication (privacyIDEA PUSH v1 device API at /device/push/).
# A challenge lives 120 s (NIST SP 800-63B r4 §3.1.3.2 allows 10 min) and is answered once.
JWEB_PUSH_CHALLENGE_SECONDS = env_int("JWEB_PUSH_CHALLENGE_SECONDS", 120, minimum=30, maximum=600)
# Number matching (require_presence): the phone offers three numbers, the login page shows one.
JWEB_PUSH_NUMBER_MATCHING = env_bool("JWEB_PUSH_NUMBER_MATCHING", True)
# MFA fatigue defence: at most this many pushes per user in the window (ASVS 5.0 6.6.4).
JWEB_PUSH_MAX_PER_WINDOW = env_int("JWEB_PUSH_MAX_PER_WINDOW", 3, minimum=1, maximum=20)
JWEB_PUSH_WINDOW_SECONDS = env_int("JWEB_PUSH_WINDOW_SECONDS", 300, minimum=60, maximum=86400)
# A "not me" decline blocks further pushes to that credential for this long.
JWEB_PUSH_NOT_ME_BLOCK_SECONDS = env_int("JWEB_PUSH_NOT_ME_BLOCK_SECONDS", 3600, minimum=60, maximum=30 * 86400)
# The one-time enrollment credential in the QR code: at most 10 minutes (r4 §4.1.2.2).
JWEB_PUSH_ENROLLMENT_SECONDS = env_int("JWEB_PUSH_ENROLLMENT_SECONDS", 600, minimum=60, maximum=600)
# How the challenge reaches the phone: "poll" (the store app opens and polls; no Firebase) or
# "fcm" (a bank's own app build: firebase-admin with the bank's service account).
JWEB_PUSH_TRANSPORT = env_str("JWEB_PUSH_TRANSPORT", "poll")
if JWEB_PUSH_TRANSPORT not in {"poll", "fcm"}:
    raise ImproperlyConfigured(
        f"Environment variable JWEB_PUSH_TRANSPORT={JWEB_PUSH_TRANSPORT!r} is invalid: expected poll or fcm."
    )
JWEB_FCM_CREDENTIALS = env_str("JWEB_FCM_CREDENTIALS", required=JWEB_PUSH_TRANSPORT == "fcm")
JWEB_FCM_PROJECT = env_str("JWEB_FCM_PROJECT", required=JWEB_PUSH_TRANSPORT == "fcm")
JWEB_FCM_TIMEOUT_SECONDS = env_int("JWEB_FCM_TIMEOUT_SECONDS", 5, minimum=1, maximum=30)
# The device API's public address as the phone reaches it (e.g. https://jweb.example.jp);
# by default, the address the browser used.
JWEB_PUBLIC_URL = env_str("JWEB_PUBLIC_URL", "")

JWEB_HELPDESK_PHONE = "0120-210-489"
# The help desk's queue shows not-me denials and locks of this many days.
JWEB_HELPDESK_QUEUE_DAYS = env_int("JWEB_HELPDESK_QUEUE_DAYS", 7, minimum=1, maximum=90)
JWEB_HELPDESK_HOURS = _("Weekdays 9:00–18:00")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
}
