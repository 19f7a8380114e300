"""Executing a provider's HTTP request, and what a transport failure means for a send:
not written (safe to retry) or written without an answer (unknown: never re-sent)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import httpx

from outbound.model import HttpCall, SendOutcome, Verdict, combine

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
            data=_form(call.form) if call.form is not None else None,
            json=call.json,
            content=call.content,
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


def _form(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """httpx repeats a key for a list value (Twilio's MediaUrl)."""
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def finish(outcomes: list[SendOutcome]) -> SendOutcome:
    """One outcome for a delivery's calls (outbound.model.combine), except that a
    delivery partly sent is never retried whole: that would repeat the sent parts."""
    outcome = combine(outcomes)
    if outcome.verdict is Verdict.retry and outcome.provider_message_ids:
        return replace(
            outcome,
            verdict=Verdict.unknown,
            error_message=f"partly sent: {outcome.error_message}",
        )
    return outcome
