"""Channels that carry a message to a customer: a WeCom (企业微信) group robot, email, a webhook.

A channel knows one way of delivering an already rendered message; it does no rendering and no
bookkeeping (``services/messages.py`` renders, logs and retries). ``send`` returns when the
other side accepted the message and raises :class:`ChannelError` with a readable reason when
it did not — the reason is stored on the message and shown in the log::

    channel = channel_for("wecom")
    channel.validate_address(url)             # ValidationError for the endpoint form
    channel.send(url, subject=..., body=..., link=..., secret="", language="zh-hans", payload={...})

- :class:`WeComRobotChannel` posts the group-robot ``markdown`` message to the robot's webhook URL
  (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``); the robot answers
  ``{"errcode": 0, "errmsg": "ok"}``, and any other errcode is a failure.
- :class:`EmailChannel` sends through Django's email backend (SMTP in production, ``EMAIL_URL``),
  UTF-8 plain text with a simple HTML alternative.
- :class:`WebhookChannel` posts JSON signed like outbound webhooks: the headers
  ``X-Steelyard-Timestamp`` and ``X-Steelyard-Signature: v1=<hex>``, where ``<hex>`` is the
  HMAC-SHA256 of ``f"{timestamp}.{body}"`` under the endpoint's secret.
"""

from __future__ import annotations

import json
import smtplib
import time
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import URLValidator, validate_email
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext_lazy as _

from steelyard.integrations.http import HttpPostError
from steelyard.integrations.http import post_json as http_post_json

TIMEOUT = 10  # seconds for an HTTP channel
EXCERPT_CHARS = 500
WECOM_MAX_BYTES = 4096  # the robot refuses markdown content longer than this (UTF-8 bytes)
USER_AGENT = "Steelyard-Messages/1"

HEADER_TIMESTAMP = "X-Steelyard-Timestamp"
HEADER_SIGNATURE = "X-Steelyard-Signature"
HEADER_EVENT = "X-Steelyard-Event"

ERR_BAD_EMAIL = _("Enter a valid email address.")
ERR_BAD_URL = _("Enter a valid http:// or https:// address.")
ERR_UNKNOWN_CHANNEL = _("Unknown channel “%(channel)s”.")
ERR_HTTP = _("The receiver answered HTTP %(status)s: %(excerpt)s")
ERR_NETWORK = _("The receiver could not be reached: %(error)s")
ERR_WECOM = _("WeCom refused the message (errcode %(errcode)s): %(errmsg)s")
ERR_WECOM_ANSWER = _("WeCom's answer was not understood: %(excerpt)s")
ERR_SMTP = _("The mail server refused the message: %(error)s")
ERR_NO_SECRET = _("This webhook has no signing secret.")


class ChannelError(Exception):
    """The channel could not deliver the message; ``str(error)`` says why."""


def signature_header(secret: str, timestamp: str | int, body: bytes) -> str:
    """``v1=<hex>``: signed exactly like outbound webhooks (``services.webhooks.sign``)."""
    from steelyard.integrations.services.webhooks import sign

    return sign(secret, timestamp, body)


def _excerpt(text: str) -> str:
    text = " ".join(str(text).split())
    return text[:EXCERPT_CHARS]


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> tuple[int, str]:
    """POST ``body`` as JSON through the integrations' HTTP helper; (status, response excerpt).

    No HTTP answer at all (DNS, refused, TLS, timeout) is a :class:`ChannelError`.
    """
    headers = {"User-Agent": USER_AGENT, **headers}
    try:
        return http_post_json(url, body, headers, timeout)
    except HttpPostError as exc:
        raise ChannelError(str(ERR_NETWORK % {"error": _excerpt(exc.message)})) from exc


def validate_http_url(address: str) -> None:
    try:
        URLValidator(schemes=["http", "https"])(address)
    except ValidationError:
        raise ValidationError(ERR_BAD_URL, code="invalid") from None


class Channel:
    """One way of delivering a rendered message to a customer's address."""

    key: ClassVar[str] = ""
    label: ClassVar[Any] = ""
    address_help: ClassVar[Any] = ""
    needs_secret: ClassVar[bool] = False

    def validate_address(self, address: str) -> None:
        raise NotImplementedError

    def send(
        self,
        address: str,
        *,
        subject: str,
        body: str,
        link: str,
        secret: str = "",
        language: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        raise NotImplementedError


def _truncate_utf8(text: str, max_bytes: int) -> str:
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[: max_bytes - 3].decode("utf-8", "ignore") + "…"


class WeComRobotChannel(Channel):
    """A WeCom group robot: the customer's group chat gets a markdown message with the status link."""

    key = "wecom"
    label = _("WeCom group robot")
    address_help = _("The robot's webhook address, https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…")

    def validate_address(self, address: str) -> None:
        validate_http_url(address)

    @staticmethod
    def markdown(*, subject: str, body: str, link: str) -> str:
        """The robot's markdown: the subject in bold, the body, and the raw link made clickable."""
        text = body.strip()
        if link and link in text:
            text = text.replace(link, f"[{link}]({link})")
        elif link:
            text = f"{text}\n[{link}]({link})"
        return _truncate_utf8(f"**{subject.strip()}**\n{text}", WECOM_MAX_BYTES)

    def message(self, *, subject: str, body: str, link: str) -> dict[str, Any]:
        return {
            "msgtype": "markdown",
            "markdown": {"content": self.markdown(subject=subject, body=body, link=link)},
        }

    def send(
        self,
        address: str,
        *,
        subject: str,
        body: str,
        link: str,
        secret: str = "",
        language: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        data = json.dumps(self.message(subject=subject, body=body, link=link), ensure_ascii=False).encode()
        status, text = post_json(address, data, {})
        if not 200 <= status < 300:
            raise ChannelError(str(ERR_HTTP % {"status": status, "excerpt": _excerpt(text)}))
        try:
            answer = json.loads(text)
            errcode = int(answer.get("errcode", -1))
        except (ValueError, TypeError, AttributeError):
            raise ChannelError(str(ERR_WECOM_ANSWER % {"excerpt": _excerpt(text)})) from None
        if errcode != 0:
            raise ChannelError(
                str(ERR_WECOM % {"errcode": errcode, "errmsg": _excerpt(str(answer.get("errmsg", "")))})
            )


class EmailChannel(Channel):
    """Email through Django's backend (SMTP from ``EMAIL_URL``): plain text plus a simple HTML part."""

    key = "email"
    label = _("Email")
    address_help = _("The email address that receives the messages.")

    def validate_address(self, address: str) -> None:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(ERR_BAD_EMAIL, code="invalid") from None

    @staticmethod
    def html(*, subject: str, body: str, link: str, language: str = "") -> str:
        content = linebreaks(body.strip(), autoescape=True)
        anchor = f'<a href="{escape(link)}">{escape(link)}</a>' if link else ""
        if link and escape(link) in content:
            content = content.replace(escape(link), anchor)  # Chinese text runs into the URL: no urlize
        elif link:
            content += f"<p>{anchor}</p>"
        return (
            f'<!doctype html><html lang="{escape(language or settings.LANGUAGE_CODE)}"><head>'
            f'<meta charset="utf-8"><title>{escape(subject)}</title></head>'
            f"<body><h1>{escape(subject)}</h1>{content}</body></html>"
        )

    def send(
        self,
        address: str,
        *,
        subject: str,
        body: str,
        link: str,
        secret: str = "",
        language: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        text = body if (not link or link in body) else f"{body.rstrip()}\n\n{link}\n"
        mail = EmailMultiAlternatives(
            subject=" ".join(subject.split()),  # a header: no line breaks
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            connection=get_connection(fail_silently=False),
        )
        mail.encoding = "utf-8"
        mail.attach_alternative(
            self.html(subject=subject, body=body, link=link, language=language), "text/html"
        )
        try:
            sent = mail.send()
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            raise ChannelError(str(ERR_SMTP % {"error": _excerpt(str(exc) or type(exc).__name__)})) from exc
        if sent != 1:
            raise ChannelError(str(ERR_SMTP % {"error": "0 messages sent"}))


class WebhookChannel(Channel):
    """A customer's own system: a signed JSON POST with the message, the link and the event's data."""

    key = "webhook"
    label = _("Webhook")
    address_help = _("The URL that receives a signed JSON POST for each message.")
    needs_secret = True

    def validate_address(self, address: str) -> None:
        validate_http_url(address)

    @staticmethod
    def document(
        *, subject: str, body: str, link: str, language: str, payload: dict[str, Any] | None
    ) -> dict[str, Any]:
        data = dict(payload or {})
        return {
            "event": data.pop("event", ""),
            "id": data.pop("message_id", None),
            "language": language,
            "subject": subject,
            "body": body,
            "link": link,
            "data": data,
        }

    def send(
        self,
        address: str,
        *,
        subject: str,
        body: str,
        link: str,
        secret: str = "",
        language: str = "",
        payload: dict[str, Any] | None = None,
    ) -> None:
        if not secret:
            raise ChannelError(str(ERR_NO_SECRET))
        doc = self.document(subject=subject, body=body, link=link, language=language, payload=payload)
        data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        timestamp = str(int(time.time()))
        headers = {
            HEADER_TIMESTAMP: timestamp,
            HEADER_SIGNATURE: signature_header(secret, timestamp, data),
            HEADER_EVENT: str(doc["event"]),
        }
        status, text = post_json(address, data, headers)
        if not 200 <= status < 300:
            raise ChannelError(str(ERR_HTTP % {"status": status, "excerpt": _excerpt(text)}))


CHANNELS: dict[str, Channel] = {c.key: c for c in (WeComRobotChannel(), EmailChannel(), WebhookChannel())}


def channel_for(key: str) -> Channel:
    try:
        return CHANNELS[key]
    except KeyError:
        raise ValidationError({"channel": ERR_UNKNOWN_CHANNEL % {"channel": key}}, code="invalid") from None
