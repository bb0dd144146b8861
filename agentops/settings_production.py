"""Production settings: everything of ``agentops.settings``, with the safety rails on.

Refuses to start without a real secret key, a sealing key file and the host names it serves.
``manage.py check --deploy`` reports nothing with these settings (tests/security checks it).
"""

from django.core.exceptions import ImproperlyConfigured

from .settings import *  # noqa: F403
from .settings import env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")  # no default: a missing key is an error at start-up
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters in production")

# No default: the development list (localhost, testserver) is wrong for any deployment, and a
# process that would refuse every request must rather refuse to start.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the host names served in production")

AGENTOPS_REQUIRE_SEAL_KEY = True
AGENTOPS_SEAL_KEY_FILE = env("AGENTOPS_SEAL_KEY_FILE")
if not AGENTOPS_SEAL_KEY_FILE:
    raise ImproperlyConfigured("AGENTOPS_SEAL_KEY_FILE must name the sealing key in production")

# HTTPS everywhere, unless AGENTOPS_PLAIN_HTTP says that nothing in front of this process
# speaks TLS (a trial on one machine, as docker-compose.yml starts it on 127.0.0.1:8000):
# then no request would ever be secure, so the redirect to https would loop the client away,
# and cookies marked Secure (the admin's and the console's session and CSRF cookies) would
# never come back. HSTS is only ever sent on secure requests, so it is left as configured.
# `manage.py check --deploy` names each of these relaxations; behind a TLS proxy (which sets
# X-Forwarded-Proto) keep the switch off.
AGENTOPS_PLAIN_HTTP = env.bool("AGENTOPS_PLAIN_HTTP", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not AGENTOPS_PLAIN_HTTP)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# Load balancers probe health over plain HTTP; the answer holds nothing worth protecting.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Django's defaults today, stated so that a changed default cannot weaken production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not AGENTOPS_PLAIN_HTTP
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not AGENTOPS_PLAIN_HTTP
X_FRAME_OPTIONS = "DENY"

# Static files are collected into STATIC_ROOT at build time (the Dockerfile runs
# collectstatic); set WHITENOISE_USE_FINDERS=true to serve them from the apps instead.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=False)
