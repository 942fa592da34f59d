"""Mail over SMTP: one message at a time, plain text with an HTML alternative.

A refusal is sorted by whether trying again can help: a mail server that is down, busy (4xx),
or refuses the sign-in or the sender (a setting to fix) delays the mail (``MailDelayed``, the
job is tried again later); a permanent (5xx) refusal of the recipient or of the message itself
fails it (``MailRefused``), as no retry will change the answer.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path

import aiosmtplib

from compax_server.jobs.queue import TryLater
from compax_server.settings import Settings, SmtpSecurity

_DEFAULT_PORTS = {SmtpSecurity.NONE: 25, SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465}


class MailDelayed(TryLater):
    """The mail could not be handed over now; trying again later will, once the mail server
    is back, so its job is retried for as long as that takes."""


class MailRefused(Exception):
    """The mail server refused the recipient or the message for good."""


@dataclass(frozen=True)
class Letter:
    """What one mail says, before it is addressed."""

    subject: str
    text: str
    html: str


def sender_domain(mail_from: str) -> str:
    """The domain of the From address, for the Message-IDs this server makes."""
    [(_, address)] = getaddresses([mail_from]) or [("", "")]
    return address.rpartition("@")[2] or "compax.invalid"


def message_id(key: str, mail_from: str) -> str:
    """The Message-ID of the mail of notification ``key``: the same every time it is sent,
    so that a mail sent again after a crash is recognisably the same one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}.notice@{sender_domain(mail_from)}>"


def compose(letter: Letter, *, to: str, mail_from: str, key: str, sent: datetime) -> EmailMessage:
    """``letter`` as a multipart/alternative mail to ``to``, marked as sent by a machine."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(addr_spec=to)
    message["Subject"] = letter.subject
    message["Date"] = format_datetime(sent)
    message["Message-ID"] = message_id(key, mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


@dataclass(frozen=True)
class Mailer:
    """Hands mail to the configured SMTP server, a connection per message."""

    host: str
    port: int
    security: SmtpSecurity
    username: str | None
    password: str | None
    ca_file: Path | None
    timeout: float
    mail_from: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer | None:
        """The mailer the settings describe, or ``None`` when no mail server is set."""
        if not settings.smtp_host:
            return None
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port or _DEFAULT_PORTS[settings.smtp_security],
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else None,
            ca_file=settings.smtp_ca_file,
            timeout=settings.smtp_timeout_seconds,
            mail_from=settings.mail_from,
        )

    def describe(self) -> str:
        """Where mail goes, for the log (never the password)."""
        who = f" as {self.username}" if self.username else ""
        return f"{self.host}:{self.port} ({self.security.value}){who}"

    def _tls(self) -> ssl.SSLContext | None:
        if self.security is SmtpSecurity.NONE:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` over, or raise ``MailDelayed`` or ``MailRefused``."""
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                use_tls=self.security is SmtpSecurity.TLS,
                start_tls=self.security is SmtpSecurity.STARTTLS,
                tls_context=self._tls(),
                username=self.username,
                password=self.password,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [recipient.code for recipient in refused.recipients]
            if all(code >= 500 for code in codes):
                raise MailRefused(_said(refused.recipients[0])) from None
            raise MailDelayed(_said(refused.recipients[0])) from None
        except aiosmtplib.SMTPDataError as refused:
            if refused.code >= 500:
                raise MailRefused(_said(refused)) from None
            raise MailDelayed(_said(refused)) from None
        except aiosmtplib.SMTPResponseException as refused:
            raise MailDelayed(_said(refused)) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as trouble:
            raise MailDelayed(f"{self.host}:{self.port}: {trouble}") from None


def _said(refusal: aiosmtplib.SMTPResponseException) -> str:
    return f"{refusal.code} {refusal.message}"[:500]


def mail_status(settings: Settings) -> str:
    """One line for the log at start: where mail goes, or that it is off and how to turn it on."""
    mailer = Mailer.from_settings(settings)
    if mailer is None:
        return (
            "mail is off: notifications are recorded and shown, none is mailed; "
            "set COMPAX_SMTP_HOST (and COMPAX_MAIL_FROM, COMPAX_SMTP_USERNAME, "
            "COMPAX_SMTP_PASSWORD) to mail them"
        )
    return f"mail goes through {mailer.describe()} from {mailer.mail_from}"
