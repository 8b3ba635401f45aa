"""What an operator watches at /metrics: how packs are made, in Prometheus's text format.

The renderer's speed-ups lean on one WeasyPrint release and switch themselves off on any other;
packs are then still made, in full, at several times the CPU, and nothing else would show it.
So the service counts packs made and refused, how each was rendered (composed from parts, or in
full because composing declined, failed or is off), and how long rendering took, and says which
speed-ups are on. Public counts only: nothing here is about a supporter, and no label holds what
a request brought.

With several web workers (`letter-campaign serve --workers`), each process writes its counts to
PROMETHEUS_MULTIPROC_DIR, which `serve` sets up, and /metrics adds them up.
"""

import os
from collections.abc import Awaitable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from app.render import Busy, Pack, RenderBudgetExceeded, RenderError, Restarting

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RENDER_BUCKETS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


class PackMetrics:
    """The counts of one app. Each app has a registry of its own: the tests build hundreds."""

    def __init__(self, speedups: Mapping[str, bool]) -> None:
        self.registry = CollectorRegistry()
        self.made = Counter(
            "letter_campaign_packs_made", "Packs made and sent.", registry=self.registry
        )
        self.refused = Counter(
            "letter_campaign_packs_refused",
            "Packs not made: too many waiting (busy), render processes restarting, "
            "the render budget spent (budget), or the render failed (error).",
            ["reason"],
            registry=self.registry,
        )
        self.rendered = Counter(
            "letter_campaign_packs_rendered",
            "Packs made, by how: composed from parts, or rendered in full because composing "
            "declined, failed, or is off (full).",
            ["how"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "letter_campaign_render_seconds",
            "Time to render a pack, from its turn at a renderer.",
            buckets=RENDER_BUCKETS,
            registry=self.registry,
        )
        active = Gauge(
            "letter_campaign_speedup_active",
            "1 where the renderer's speed-up is on, 0 where it is off.",
            ["speedup"],
            registry=self.registry,
            multiprocess_mode="min",
        )
        for how in ("composed", "declined", "failed", "full"):
            self.rendered.labels(how)
        for reason in ("busy", "restarting", "budget", "error"):
            self.refused.labels(reason)
        for name, on in speedups.items():
            active.labels(name).set(1 if on else 0)

    async def counted(self, making: Awaitable[Pack]) -> bytes:
        """The pack's PDF, counted as made, or the refusal counted and raised again."""
        try:
            pack = await making
        except Restarting:
            self.refused.labels("restarting").inc()
            raise
        except Busy:
            self.refused.labels("busy").inc()
            raise
        except RenderBudgetExceeded:
            self.refused.labels("budget").inc()
            raise
        except RenderError:
            self.refused.labels("error").inc()
            raise
        self.made.inc()
        self.rendered.labels(pack.how).inc()
        self.seconds.observe(pack.seconds)
        return pack.pdf

    def exposition(self) -> bytes:
        """The counts in Prometheus's text format: this process's, or every worker's."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
