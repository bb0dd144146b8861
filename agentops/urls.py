from django.contrib import admin
from django.urls import include, path

from ingestion.admin import password_change_managed

urlpatterns = [
    # Before the admin's own: passwords are changed by the operator, not through the console.
    path(
        "admin/password_change/",
        admin.site.admin_view(password_change_managed),
        name="password_change_managed",
    ),
    path("admin/", admin.site.urls),
    path("", include("ingestion.api.urls")),
    path("", include("compliance.urls")),
]

handler400 = "ingestion.api.exceptions.json_400"
handler404 = "ingestion.api.exceptions.json_404"
handler500 = "ingestion.api.exceptions.json_500"
