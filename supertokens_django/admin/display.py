"""How the admin pages show a user, a client, dates and a JSON document (no query: the user is
select_related).

The lists are narrow enough for a laptop with the admin's sidebars open (1280 pixels): a cell
holds two short lines (a device over its IP address, "created ..." over "active ..."), dates are
relative with the full date in a ``title``, and the CSS of
``admin/supertokens_django/session/compact_styles.html`` stacks and clamps them.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from django.contrib.admin import AdminSite
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _


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


def client(label: str, user_agent: str, ip_address: str | None, *, empty: str) -> SafeString:
    """The device ``label`` (the whole user agent in its title) over the IP address."""
    if label:
        device = format_html('<span class="st-device" title="{}">{}</span>', user_agent, label)
    else:
        device = format_html('<span class="st-device">{}</span>', empty)
    if not ip_address:
        return device
    return format_html('{}<span class="st-ip">{}</span>', device, breakable_ip(ip_address))


def breakable_ip(ip_address: str) -> SafeString:
    """The address with a line-break opportunity after each colon (after both of ``::``): an
    IPv6 address may then wrap between its groups instead of widening its column. ``<wbr>`` is
    no character, so the address copies as it reads."""
    *groups, last = re.split(r"(?<=:)(?!:)", ip_address)
    return format_html("{}{}", format_html_join("", "{}<wbr>", ((g,) for g in groups)), last)


def relative_time(value: datetime, now: datetime) -> str:
    """``"3 days ago"``, ``"in 13 days"``: the largest unit only, so that the line stays short."""
    if value <= now:
        if now - value < timedelta(minutes=1):
            return _("just now")
        return _("%(time)s ago") % {"time": timesince(value, now, depth=1)}
    if value - now < timedelta(minutes=1):
        return _("in under a minute")
    return _("in %(time)s") % {"time": timeuntil(value, now, depth=1)}


def moment(value: datetime, text: str, *, quiet: bool = False) -> SafeString:
    """One line: ``text`` (a relative time), the full date as the admin shows dates elsewhere
    (current time zone, the locale's format) in its title."""
    local = timezone.localtime(value) if timezone.is_aware(value) else value  # USE_TZ = False
    full = formats.localize(local)
    css = "st-line st-quiet" if quiet else "st-line"
    return format_html(
        '<time class="{}" datetime="{}" title="{}">{}</time>', css, value.isoformat(), full, text
    )


def activity(created_at: datetime, last_active_at: datetime, now: datetime) -> SafeString:
    """``created 3 days ago`` over ``active 2 hours ago``."""
    return format_html(
        "{}{}",
        moment(created_at, _("created %(when)s") % {"when": relative_time(created_at, now)}),
        moment(last_active_at, _("active %(when)s") % {"when": relative_time(last_active_at, now)}),
    )


def status(expires_at: datetime, now: datetime) -> SafeString:
    """``Active`` over ``expires in 13 days``, or ``Expired`` over ``2 days ago``."""
    if expires_at > now:
        label = _("Active")
        when = _("expires %(when)s") % {"when": relative_time(expires_at, now)}
    else:
        label, when = _("Expired"), relative_time(expires_at, now)
    return format_html(
        '<span class="st-line">{}</span>{}', label, moment(expires_at, when, quiet=True)
    )


def pretty_json(value: Any) -> SafeString:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre class="st-json">{}</pre>', text)
