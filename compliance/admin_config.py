from django.contrib.admin.apps import AdminConfig


class ComplianceAdminConfig(AdminConfig):
    """Django's admin, with the compliance console's site (``compliance.site``)."""

    default_site = "compliance.site.ComplianceAdminSite"
