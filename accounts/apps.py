from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import (
            signals,  # noqa: F401
            tasks,  # noqa: F401  # registered in every process (surveys/apps.py)
        )
