"""A real SMTP server for tests and benchmarks (aiosmtpd in a thread of its own), keeping every
mail it accepts; recipients at ``refused.edu.gh`` are refused for good (550)."""

from __future__ import annotations

import email
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

REFUSED_DOMAIN = "refused.edu.gh"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Inbox:
    """aiosmtpd's handler: refuses the refused domain, keeps the rest."""

    mails: list[EmailMessage] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=default)
        assert isinstance(message, EmailMessage)
        self.mails.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for mail in self.mails if mail["To"] == address]


class SmtpServer:
    """The inbox's server on ``port``; ``start``/``stop`` may be called again and again."""

    def __init__(self, port: int | None = None, **options: Any) -> None:
        self.port = port or free_port()
        self.inbox = Inbox()
        self.options = options
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port, **self.options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def tls_options(context: ssl.SSLContext, *, implicit: bool) -> dict[str, Any]:
    """aiosmtpd options for TLS from the start (``implicit``) or STARTTLS required."""
    if implicit:
        return {"ssl_context": context}
    return {"tls_context": context, "require_starttls": True}
