"""Meta Graph API error answers, shared by the WhatsApp Cloud API and Messenger senders.

The error document (https://developers.facebook.com/docs/graph-api/guides/error-handling):
`{"error": {"message", "type", "code", "error_subcode", "error_user_msg",
"error_data": {"details"}, "fbtrace_id"}}`. The WhatsApp codes are listed at
https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes .

Meta answers throttling with HTTP 400 and a code rather than a 429, and says the
request was not processed ("wait and retry"); those codes are `retry`:
- 4 application request limit, 17 user request limit, 32 Page request limit,
  613 calls within one hour exceeded (Graph API);
- 80007 WhatsApp Business Account rate limit, 130429 Cloud API throughput reached,
  131056 (business, consumer) pair rate limit (WhatsApp).
Everything else follows the HTTP status (`outbound.responses`). Notably 131047
(more than 24 hours since the customer's last message), 131026 (undeliverable) and
Messenger's 10/2018278 (outside the allowed window) are `failed`; so is 131048
(spam rate limit), which lifts only when the number's quality recovers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from outbound import responses
from outbound.model import SendOutcome, Verdict

THROTTLING_CODES: Final = frozenset(
    {"4", "17", "32", "613", "80007", "130429", "131056"}
)


def error_outcome(status: int, headers: Mapping[str, str], body: bytes) -> SendOutcome:
    """The outcome of a Graph API error answer (any non-2xx, or a 2xx with `error`).

    `error_code` is the Graph `code`, with `/error_subcode` appended when there is
    one (`10/2018278`); `error_message` is the message and, when given, the details.
    """
    error = responses.member(responses.json_object(body), "error")
    code = responses.text(responses.member(error, "code"))
    subcode = responses.text(responses.member(error, "error_subcode"))
    message = _message(error) or responses.excerpt(body)
    error_code = f"{code}/{subcode}" if code and subcode else code
    if code in THROTTLING_CODES and 400 <= status < 500:
        return responses.retry(headers, code=error_code or str(status), message=message)
    if responses.is_success(status):  # an error document with a 2xx: never re-sent
        return SendOutcome(
            verdict=Verdict.unknown,
            error_code=error_code or str(status),
            error_message=message,
        )
    return responses.by_status(status, headers, code=error_code, message=message)


def _message(error: object) -> str | None:
    message = responses.text(responses.member(error, "message"))
    details = responses.text(responses.member(error, "error_data", "details"))
    user_message = responses.text(responses.member(error, "error_user_msg"))
    parts = [part for part in (message, details or user_message) if part]
    return "; ".join(parts) or None
