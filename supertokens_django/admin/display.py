"""How the admin pages show a user and a JSON document (no query: the user is select_related)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.admin import AdminSite
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString


def user_admin_url(site: AdminSite, user: Any) -> str | None:
    """The user's change page when the user model is registered on this admin site."""
    if user is None or not site.is_registered(type(user)):
        return None
    opts = user._meta
    try:
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=(user.pk,),
            current_app=site.name,
        )
    except NoReverseMatch:  # a custom user admin without a change view
        return None


def user_label(row: Any) -> str:
    """The username, or the bare user id for a session created without a user instance."""
    return str(row.user.get_username()) if row.user is not None else str(row.subject)


def user_link(site: AdminSite, row: Any) -> str:
    """``user_label`` linked to the user's admin page when there is one."""
    url = user_admin_url(site, row.user)
    label = user_label(row)
    return format_html('<a href="{}">{}</a>', url, label) if url else label


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="st-json">{}</pre>', text)
