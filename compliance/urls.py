from django.urls import path

from . import api

urlpatterns = [
    path(
        "api/v1/sessions/<str:session_id>/export",
        api.SessionExportView.as_view(),
        name="session-export",
    ),
    path(
        "api/v1/sessions/<str:session_id>/findings",
        api.SessionFindingsView.as_view(),
        name="session-findings",
    ),
]
