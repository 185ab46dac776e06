import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.services import admin_ensure


class Command(BaseCommand):
    help = (
        "Create the admin account if missing (DJANGO_ADMIN_USERNAME, DJANGO_ADMIN_PASSWORD, "
        "DJANGO_ADMIN_EMAIL; a password is generated and saved under var/ otherwise)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default=os.environ.get("DJANGO_ADMIN_USERNAME", "admin"))

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        env_password = os.environ.get("DJANGO_ADMIN_PASSWORD") or None
        saved = settings.VAR_DIR / "admin_password"
        account = admin_ensure(
            username=username,
            email=os.environ.get("DJANGO_ADMIN_EMAIL", ""),
            password=env_password,
        )
        if account.generated_password:
            saved.write_text(account.generated_password + "\n")
            saved.chmod(0o600)
        if env_password:
            shown = "the one in DJANGO_ADMIN_PASSWORD"
        elif saved.exists():
            shown = f"{saved.read_text().strip()} (saved in {saved})"
        else:
            shown = "unchanged"
        verb = "Created admin account" if account.created else "Admin account"
        self.stdout.write(
            f"{verb} {username!r}: log in at {settings.SITE_URL}/admin/ with password {shown}"
        )
