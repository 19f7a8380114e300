"""Prometheus metrics, one registry per app instance (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_server_errors = Counter(
            "omniroute_http_server_errors_total",
            "HTTP responses with a 5xx status, by status (503: retry later).",
            ["status"],
            registry=r,
        )
        self.webhooks_accepted = Counter(
            "omniroute_webhooks_accepted_total",
            "Webhook requests answered 2xx.",
            ["connector"],
            registry=r,
        )
        self.webhooks_rejected = Counter(
            "omniroute_webhooks_rejected_total",
            "Webhook requests rejected, by reason.",
            ["connector", "reason"],
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "omniroute_ingest_duration_seconds",
            "Time to verify, parse and durably store one webhook request.",
            ["connector"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.decisions = Counter(
            "omniroute_routing_decisions_total",
            "Routing decisions, by queue.",
            ["queue"],
            registry=r,
        )
        self.delivery_statuses = Counter(
            "omniroute_delivery_statuses_total",
            "Provider delivery statuses of outbound messages, by what they came to:"
            " changed, unchanged (duplicate or outranked), unknown_message.",
            ["provider", "outcome"],
            registry=r,
        )
        self.outbox_pending = Gauge(
            "omniroute_outbox_pending",
            "Outbox rows not yet acknowledged by Kafka.",
            registry=r,
        )
        self.outbox_oldest_age = Gauge(
            "omniroute_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none).",
            registry=r,
        )
        self.events_published = Counter(
            "omniroute_events_published_total",
            "Events acknowledged by Kafka.",
            ["topic"],
            registry=r,
        )
        self.publish_failures = Counter(
            "omniroute_publish_failures_total",
            "Failed publish attempts, by error.",
            ["error"],
            registry=r,
        )
        self.relay_leader = Gauge(
            "omniroute_relay_leader",
            "1 while this process holds the relay lock.",
            registry=r,
        )
        self.offers = Counter(
            "omniroute_offers_total",
            "Offers by outcome: offered, accepted, declined, timed_out.",
            ["outcome"],
            registry=r,
        )
        self.time_to_assignment = Histogram(
            "omniroute_time_to_assignment_seconds",
            "From waiting in line to an agent accepting (or auto-accept).",
            ["queue"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.first_response = Histogram(
            "omniroute_first_response_seconds",
            "From the customer's first message to the first agent reply.",
            ["queue", "channel"],
            buckets=(15, 30, 60, 120, 300, 600, 1800, 3600, 14400, 86400),
            registry=r,
        )
        self.sla_warnings = Counter(
            "omniroute_sla_warnings_total",
            "SLA warnings, by metric.",
            ["metric"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "omniroute_sla_breaches_total",
            "SLA breaches, by metric.",
            ["metric"],
            registry=r,
        )
        # Queue gauges, set from GET /v1/queues' figures at each scrape.
        self.queue_waiting = Gauge(
            "omniroute_queue_waiting", "Conversations waiting.", ["queue"], registry=r
        )
        self.queue_oldest_waiting = Gauge(
            "omniroute_queue_oldest_waiting_seconds",
            "Age of the oldest waiting conversation (0 when none).",
            ["queue"],
            registry=r,
        )
        self.queue_available_agents = Gauge(
            "omniroute_queue_available_agents",
            "Available agents in the queue.",
            ["queue"],
            registry=r,
        )
        self.queue_free_capacity = Gauge(
            "omniroute_queue_free_capacity",
            "Free capacity of the queue's available agents, by channel.",
            ["queue", "channel"],
            registry=r,
        )
