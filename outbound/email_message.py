"""The email reply as a MIME message, for sending over SMTP.

Built with the standard library's `email` package under `email.policy.SMTP` (CRLF
line ends, as SMTP needs): From, To, Subject, Date, Message-ID, In-Reply-To,
References and one text/plain UTF-8 part, quoted-printable. Subject and threading follow the same
rules as the Mailgun sender (`outbound.email_reply`); attachments go as links at the
end of the text. `date` is a parameter because this module reads no clock.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from outbound import email_reply
from outbound.model import Delivery, SendRefused

__all__ = ["build_reply"]


def build_reply(
    delivery: Delivery, from_address: str, domain: str, *, date: datetime
) -> EmailMessage:
    """The reply to send; its Message-ID is `<{delivery.message_id}@{domain}>`.

    From is the address the customer wrote to (`delivery.sender`), else `from_address`.
    """
    if date.tzinfo is None:
        raise ValueError("date must be timezone-aware")
    if delivery.template is not None:
        raise SendRefused("email has no message templates; send text")
    text = email_reply.body_with_links(delivery.text, delivery.attachments)
    if not text.strip():
        raise SendRefused("nothing to send: no text or attachment")
    message = EmailMessage(policy=policy.SMTP)
    try:  # the policy refuses line breaks and other header injection here
        message["From"] = delivery.sender or from_address
        message["To"] = delivery.to
    except ValueError as exc:
        raise SendRefused(f"an address cannot stand in a header: {exc}") from exc
    message["Subject"] = email_reply.reply_subject(delivery.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = email_reply.own_message_id(delivery.message_id, domain)
    if parent := email_reply.in_reply_to(delivery):
        message["In-Reply-To"] = parent
    if chain := email_reply.references(delivery):
        message["References"] = " ".join(chain)
    # Quoted-printable keeps the message 7-bit with short lines, so it needs no
    # 8BITMIME from the server (RFC 6152) whatever the text holds.
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    return message
