from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("ingestion.api.urls")),
    path("", include("compliance.urls")),
]

handler400 = "ingestion.api.exceptions.json_400"
handler404 = "ingestion.api.exceptions.json_404"
handler500 = "ingestion.api.exceptions.json_500"
