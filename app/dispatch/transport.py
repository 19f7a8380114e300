"""Executing a provider's HTTP request, and what a transport failure means for a send:
not written (safe to retry) or written without an answer (unknown: never re-sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from outbound.model import HttpCall, SendOutcome, Verdict

Interpret = Callable[[int, Mapping[str, str], bytes], SendOutcome]

# The request cannot have reached the provider.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


async def execute(
    client: httpx.AsyncClient, call: HttpCall, interpret: Interpret
) -> SendOutcome:
    """Make one call; a transport error is `retry` before writing, `unknown` after."""
    try:
        response = await client.request(
            call.method,
            call.url,
            headers=list(call.headers),
            data=dict(call.form) if call.form is not None else None,
            json=call.json,
            auth=call.auth,
        )
    except _NOT_SENT as error:
        return SendOutcome(
            verdict=Verdict.retry,
            error_code="connect",
            error_message=f"{type(error).__name__}: not sent",
        )
    except httpx.TransportError as error:  # timeouts, resets after the request
        return SendOutcome(
            verdict=Verdict.unknown,
            error_code="no_answer",
            error_message=f"{type(error).__name__}: the request was sent, no answer",
        )
    return interpret(response.status_code, response.headers, response.content)


def combine(outcomes: list[SendOutcome]) -> SendOutcome:
    """Several calls for one message (a split text, attachments): all sent, or the
    first that was not, keeping the ids of the parts that were."""
    sent_ids = tuple(i for o in outcomes for i in o.provider_message_ids)
    for outcome in outcomes:
        if outcome.verdict is not Verdict.sent:
            if sent_ids and outcome.verdict is Verdict.retry:
                # Part of it reached the customer: sending it all again would repeat it.
                return SendOutcome(
                    verdict=Verdict.unknown,
                    provider_message_ids=sent_ids,
                    error_code=outcome.error_code,
                    error_message=f"partly sent: {outcome.error_message}",
                )
            return SendOutcome(
                verdict=outcome.verdict,
                provider_message_ids=sent_ids,
                error_code=outcome.error_code,
                error_message=outcome.error_message,
                retry_after_seconds=outcome.retry_after_seconds,
            )
    return SendOutcome(verdict=Verdict.sent, provider_message_ids=sent_ids)
