"""Compliance reviewers: the people who read evidence in the console and change nothing.

The group and the raw-payload permission are created by migration 0003.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

GROUP_NAME = "Compliance reviewers"
#: Without it, payload values that hold personal data are shown masked.
RAW_PAYLOAD_PERMISSION = "compliance.view_raw_payload"


class ReviewerError(Exception):
    pass


def raw_payload_allowed(user: Any) -> bool:
    return user.has_perm(RAW_PAYLOAD_PERMISSION)


def reviewer_create(*, username: str, password: str, email: str = "") -> Any:
    """A new staff user in the reviewers group; the password must pass the validators.

    Raises ``ReviewerError`` when the group is missing (migrations not run), the user
    already exists or the password is refused.
    """
    group = Group.objects.filter(name=GROUP_NAME).first()
    if group is None:
        raise ReviewerError(f"the group {GROUP_NAME!r} does not exist: run manage.py migrate")
    User = get_user_model()
    if User._default_manager.filter(**{User.USERNAME_FIELD: username}).exists():
        raise ReviewerError(f"a user named {username!r} already exists")
    candidate = User(**{User.USERNAME_FIELD: username}, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ReviewerError("password refused: " + " ".join(exc.messages)) from None
    with transaction.atomic():
        user = User._default_manager.create_user(
            **{User.USERNAME_FIELD: username}, email=email, password=password, is_staff=True
        )
        user.groups.add(group)
    return user
