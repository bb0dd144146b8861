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
    path("api/v1/exports/<str:job_id>", api.ExportJobView.as_view(), name="export-job"),
    path(
        "api/v1/exports/<str:job_id>/download",
        api.ExportJobDownloadView.as_view(),
        name="export-job-download",
    ),
]
