"""App configuration: registers the system checks and the password-change receiver."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SuperTokensConfig(AppConfig):
    name = "supertokens_django"
    label = "supertokens_django"
    verbose_name = _("SuperTokens sessions")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, receivers  # noqa: F401  (registration happens on import)

        receivers.connect()
