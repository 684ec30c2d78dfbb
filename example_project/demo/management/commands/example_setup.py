"""``manage.py example_setup``: create the demo users if they are missing."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERS = (
    # username, password, superuser
    ("demo", "demo-password", False),
    ("admin", "admin-password", True),
)


class Command(BaseCommand):
    help = "Create the user demo/demo-password and the superuser admin/admin-password if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        manager = user_model._default_manager
        for username, password, superuser in DEMO_USERS:
            if manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
                self.stdout.write(f"{username}: exists, left as it is")
                continue
            if superuser:
                manager.create_superuser(username, f"{username}@example.com", password)
            else:
                manager.create_user(username, f"{username}@example.com", password)
            self.stdout.write(self.style.SUCCESS(f"{username}: created (password {password})"))
