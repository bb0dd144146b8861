from django.apps import AppConfig


class PolicyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "policy"

    def ready(self) -> None:
        from policy import checks  # noqa: F401  (registers the system checks)
