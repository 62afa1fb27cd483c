"""What a request's ``notify`` may name on this server: webhook hosts, signing, e-mail.

Webhooks are a request-forgery door into the operator's network, so they go only
to hosts the operator listed (exact names, or CIDR ranges matched by IP literals;
a name is never resolved to match a range). The same rules are checked at the door
(validation) and again before each delivery.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from genejobs.config import Settings


@dataclass(frozen=True)
class NotifyPolicy:
    """What this server allows: webhook hosts, a signing secret, an SMTP server."""

    allowed_hosts: tuple[str, ...] = ()
    secret: str | None = None
    smtp_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyPolicy:
        return cls(settings.webhook_allowed_hosts, settings.webhook_secret, settings.smtp_url)

    def host_allowed(self, host: str) -> bool:
        """An exact listed name, or an IP literal inside a listed CIDR range."""
        host = host.lower().strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for entry in self.allowed_hosts:
            entry = entry.lower()
            if "/" in entry and address is not None:
                try:
                    if address in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    continue
            elif entry.strip("[]") == host:
                return True
        return False

    def webhook_problem(self, url: str) -> str | None:
        """Why this webhook URL is refused, or None.

        The URL is parsed by httpx, the client that will POST to it, so the host checked
        here is the host it will connect to, and a URL httpx refuses (a tab, CR or LF,
        other control characters) is refused now rather than at every delivery.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "must be an http:// or https:// URL"
        if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in url):
            return "must not contain spaces or control characters (tab, CR, LF, ...)"
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            return f"is not a URL the notifier can send to ({exc})"
        if parsed.scheme not in ("http", "https") or not parsed.host:
            return "must be an http:// or https:// URL"
        if parsed.host.lower().strip("[]") != (parts.hostname or "").lower().strip("[]"):
            return "has a host that URL parsers disagree on; write it plainly"
        if not self.allowed_hosts:
            return (
                "webhooks are not enabled on this server "
                "(the operator lists allowed hosts in GENEJOBS_WEBHOOK_ALLOWED_HOSTS)"
            )
        if not self.host_allowed(parsed.host):
            return (
                f"host '{parsed.host}' is not allowed for webhooks "
                f"(allowed: {', '.join(self.allowed_hosts)})"
            )
        if not self.secret:
            return "webhooks need GENEJOBS_WEBHOOK_SECRET on this server to sign deliveries"
        return None

    def problems(self, notify: Any) -> list[str]:
        """Field problems of a request's ``notify`` (a ``NotifyRequest`` or None)."""
        if notify is None:
            return []
        found: list[str] = []
        if notify.webhook is None and notify.email is None:
            found.append("notify: give a webhook, an email, or both")
        if notify.webhook is not None and (why := self.webhook_problem(notify.webhook)):
            found.append(f"notify.webhook: {why}")
        if notify.email is not None and not self.smtp_url:
            found.append(
                "notify.email: e-mail is not configured on this server (GENEJOBS_SMTP_URL)"
            )
        elif notify.email is not None and (why := address_problem(notify.email)):
            found.append(f"notify.email: {why}")
        return found


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a To header of the notifier's message, or None."""
    from email.message import EmailMessage

    msg = EmailMessage()
    try:
        msg["To"] = address
        msg.as_bytes()
    except (ValueError, TypeError, IndexError, UnicodeError) as exc:
        return f"'{address[:64]}' cannot be an e-mail header ({exc})"
    return None
