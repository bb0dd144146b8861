from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ..otlp.views import OtlpTracesApiView, OtlpTracesView
from ..transparency import api as log_api
from . import views

urlpatterns = [
    path("api/v1/sessions", views.SessionsView.as_view(), name="sessions"),
    path(
        "api/v1/sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session-detail"
    ),
    path(
        "api/v1/sessions/<str:session_id>/events",
        views.SessionEventsView.as_view(),
        name="session-events",
    ),
    path(
        "api/v1/sessions/<str:session_id>/seal",
        views.SessionSealView.as_view(),
        name="session-seal",
    ),
    # OTLP/HTTP: exporters append /v1/traces to their configured endpoint.
    path("v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
    path("api/v1/otlp/v1/traces", OtlpTracesApiView.as_view(), name="otlp-traces-api"),
    path("api/v1/verify", views.VerifyView.as_view(), name="verify"),
    path("api/v1/keys", views.KeysView.as_view(), name="keys"),
    path("api/v1/log/tree-head", log_api.TreeHeadView.as_view(), name="log-tree-head"),
    path("api/v1/log/inclusion", log_api.InclusionView.as_view(), name="log-inclusion"),
    path("api/v1/log/consistency", log_api.ConsistencyView.as_view(), name="log-consistency"),
    path("api/v1/log/leaves", log_api.LeavesView.as_view(), name="log-leaves"),
    path("healthz", views.HealthView.as_view(), name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
