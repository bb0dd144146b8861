"""The "Compliance reviewers" group and the permission to see raw event payloads.

Reviewers may look at everything the compliance console shows (sessions, their events,
policy findings, the export ledger, projects) and change nothing. Seeing payload values that
hold personal data unmasked is a separate permission, ``compliance.view_raw_payload``, which
the group does not get: it is granted to individual users who need it.

The permission hangs on the export ledger's content type because a permission needs one and
this app owns that model; it is not declared in a model's Meta, so no schema migration is
tied to it. Django creates the default view permissions only after every migration has run
(post_migrate), so on a new database they are made here; post_migrate then finds them.
"""

from django.db import migrations

GROUP_NAME = "Compliance reviewers"

# (app label, model name, verbose name) of every model a reviewer may view.
VIEWABLE = [
    ("ingestion", "session", "session"),
    ("ingestion", "event", "event"),
    ("ingestion", "project", "project"),
    ("policy", "findings", "policy findings"),
    ("compliance", "exportrecord", "export record"),
]

RAW_PAYLOAD_CODENAME = "view_raw_payload"
RAW_PAYLOAD_NAME = "Can see raw event payloads, personal data unmasked"


def _permission(apps, db, app_label, model, codename, name):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    content_type, _ = ContentType.objects.using(db).get_or_create(app_label=app_label, model=model)
    permission, _ = Permission.objects.using(db).get_or_create(
        content_type=content_type, codename=codename, defaults={"name": name}
    )
    return permission


def reviewers_create(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    view = [
        _permission(apps, db, app_label, model, f"view_{model}", f"Can view {verbose}")
        for app_label, model, verbose in VIEWABLE
    ]
    _permission(apps, db, "compliance", "exportrecord", RAW_PAYLOAD_CODENAME, RAW_PAYLOAD_NAME)
    group, _ = Group.objects.using(db).get_or_create(name=GROUP_NAME)
    group.permissions.add(*view)


def reviewers_remove(apps, schema_editor):
    db = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    Group.objects.using(db).filter(name=GROUP_NAME).delete()
    Permission.objects.using(db).filter(
        content_type__app_label="compliance", codename=RAW_PAYLOAD_CODENAME
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0002_ledger_append_only_triggers"),
        ("ingestion", "0002_append_only_triggers"),
        ("policy", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(reviewers_create, reviewers_remove)]
