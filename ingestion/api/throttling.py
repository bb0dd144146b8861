from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key; the rate comes from ``AGENTOPS_API_RATE`` (e.g. ``6000/min``)."""

    scope = "api_key"

    def get_rate(self):
        return settings.AGENTOPS_API_RATE

    def get_cache_key(self, request, view):
        if request.auth is None:
            return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
