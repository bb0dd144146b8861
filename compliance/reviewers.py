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
#: Browse everyone's access records and export them (migration 0010).
ADMINISTRATORS_GROUP_NAME = "Compliance administrators"
#: Without it, payload values that hold personal data are shown masked.
RAW_PAYLOAD_PERMISSION = "compliance.view_raw_payload"


class ReviewerError(Exception):
    pass


def raw_payload_allowed(user: Any) -> bool:
    return user.has_perm(RAW_PAYLOAD_PERMISSION)


def reviewer_create(
    *, username: str, password: str, email: str = "", dpo: bool = False, admin: bool = False
) -> Any:
    """A new staff user in the reviewers group; the password must pass the validators.

    ``dpo`` also puts the user in the "Data protection officers" group, which may erase
    personal data; ``admin`` in the "Compliance administrators" group (migration 0010), which
    browses everyone's rows of the access ledger. Raises ``ReviewerError`` when a group is
    missing (migrations not run), the user already exists or the password is refused.
    """
    group = Group.objects.filter(name=GROUP_NAME).first()
    if group is None:
        raise ReviewerError(f"the group {GROUP_NAME!r} does not exist: run manage.py migrate")
    administrators = Group.objects.filter(name=ADMINISTRATORS_GROUP_NAME).first()
    if admin and administrators is None:
        raise ReviewerError(
            f"the group {ADMINISTRATORS_GROUP_NAME!r} does not exist: run manage.py migrate"
        )
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
        if dpo:
            user.groups.add(dpo_group())
        if admin:
            user.groups.add(administrators)
    return user


DPO_GROUP_NAME = "Data protection officers"
#: Held explicitly (through the group or granted by name): a superuser without it may not
#: erase, since superusers otherwise hold every permission implicitly.
ERASE_PERMISSION = ("ingestion", "erase_personal_data")
#: What a data protection officer looks at, besides erasing.
DPO_VIEWABLE = (
    ("ingestion", "session"),
    ("ingestion", "event"),
    ("ingestion", "project"),
    ("ingestion", "erasure"),
    ("policy", "findings"),
    ("compliance", "exportrecord"),
)


def erase_allowed(user: Any) -> bool:
    """Whether ``user`` holds the erase permission itself (not through superuser status)."""
    from django.contrib.auth.models import Permission
    from django.db.models import Q

    if not (user.is_authenticated and user.is_active):
        return False
    app_label, codename = ERASE_PERMISSION
    return (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .filter(Q(group__user=user) | Q(user=user))
        .exists()
    )


def dpo_group() -> Group:
    """The "Data protection officers" group with its permissions (made on first use)."""
    from django.contrib.auth.models import Permission

    group, _ = Group.objects.get_or_create(name=DPO_GROUP_NAME)
    app_label, codename = ERASE_PERMISSION
    permissions = list(
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    )
    for label, model in DPO_VIEWABLE:
        permissions += list(
            Permission.objects.filter(
                content_type__app_label=label, content_type__model=model, codename=f"view_{model}"
            )
        )
    if not any(p.codename == codename for p in permissions):
        raise ReviewerError("the erase permission does not exist: run manage.py migrate")
    group.permissions.add(*permissions)
    return group
