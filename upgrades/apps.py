from django.apps import AppConfig


class UpgradesConfig(AppConfig):
    name = "upgrades"
    verbose_name = "Upgrades"
    default_auto_field = "django.db.models.BigAutoField"
