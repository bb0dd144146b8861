"""System checks: a broken policy file fails ``manage.py check`` at deploy time, not mid-append."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.checks import Error, register

from policy.rules import DEFAULT_POLICY_FILE, PolicyError, policy_load
from policy.services import policy_path_for_project


@register()
def policy_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    region = getattr(settings, "AGENTOPS_PII_DEFAULT_REGION", "US")
    if not isinstance(region, str) or region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        errors.append(
            Error(
                f"AGENTOPS_PII_DEFAULT_REGION {region!r} is not a region phonenumbers knows",
                hint="Use an ISO 3166-1 alpha-2 code such as 'US' or 'GB'.",
                id="policy.E001",
            )
        )
        return errors
    files = getattr(settings, "AGENTOPS_POLICY_FILES", None) or {}
    if not isinstance(files, dict):
        return [Error("AGENTOPS_POLICY_FILES must map project names to paths", id="policy.E002")]
    to_load = [("the default policy", DEFAULT_POLICY_FILE)]
    for project_name in sorted(files):
        path = policy_path_for_project(project_name=project_name)
        to_load.append((f"the policy of project {project_name!r}", path))
    for what, path in to_load:
        try:
            policy_load(path=path)
        except PolicyError as exc:
            errors.append(Error(f"{what} cannot be loaded", hint=str(exc), id="policy.E003"))
    return errors
