"""The console's pages for users, groups and passwords: shown, never written.

The service's database role may write only ``auth_user.last_login``; users, groups and
passwords are managed by the owner's commands. tests/security/test_db_roles.py logs in as that
role; these tests hold on both databases.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password
from django.contrib.auth.models import Group
from django.urls import NoReverseMatch, reverse


@pytest.fixture
def superuser_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("model", [get_user_model(), Group])
def test_users_and_groups_cannot_be_added_changed_or_deleted(superuser_client, admin_user, model):
    group = Group.objects.create(name="auditors")
    obj = admin_user if model is not Group else group
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    assert superuser_client.get(reverse(f"{prefix}_add")).status_code == 403
    assert superuser_client.get(reverse(f"{prefix}_delete", args=[obj.pk])).status_code == 403
    page = superuser_client.get(reverse(f"{prefix}_change", args=[obj.pk]))
    assert page.status_code == 200  # shown read-only
    assert b'name="_save"' not in page.content
    posted = superuser_client.post(
        reverse(f"{prefix}_change", args=[obj.pk]), {"username": "renamed", "name": "x"}
    )
    assert posted.status_code == 403
    assert get_user_model().objects.get(pk=admin_user.pk).username == admin_user.username
    assert Group.objects.get(pk=group.pk).name == "auditors"


@pytest.mark.django_db
def test_the_change_password_page_says_who_changes_passwords(superuser_client, admin_user):
    before = get_user_model().objects.get(pk=admin_user.pk).password
    page = superuser_client.get("/admin/password_change/")
    assert page.status_code == 200
    assert b"manage.py changepassword" in page.content
    posted = superuser_client.post(
        "/admin/password_change/",
        {"old_password": "password", "new_password1": "x" * 20, "new_password2": "x" * 20},
    )
    assert posted.status_code == 200
    assert get_user_model().objects.get(pk=admin_user.pk).password == before


@pytest.mark.django_db
def test_the_library_key_model_is_not_in_the_console(superuser_client):
    with pytest.raises(NoReverseMatch):
        reverse("admin:rest_framework_api_key_apikey_changelist")


def test_an_outdated_hash_is_checked_and_not_rewritten_at_login():
    """Django would re-hash (and save) a password whose iteration count is not the current
    one; the service's role may not write the password column."""

    class Older(PBKDF2PasswordHasher):
        iterations = 1000

    encoded = make_password("a long password", hasher=Older())
    saved = []
    assert check_password("a long password", encoded, setter=saved.append)
    assert saved == []
    assert not check_password("another password", encoded)
