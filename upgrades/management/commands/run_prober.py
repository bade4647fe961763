"""Run the prober: probes the original URL of every service in Step 2 (see upgrades/engine/prober.py)."""

import signal

from django.core.management.base import BaseCommand

from upgrades.engine.prober import Prober


class Command(BaseCommand):
    help = "Probe the original URL of each service in Step 2, PROBE_RATE times a second, until stopped."

    def handle(self, *args, **options):
        prober = Prober()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: prober.stop.set())
        self.stdout.write(f"prober ready: {prober.rate:g} probes a second per service in Step 2", ending="\n")
        self.stdout.flush()
        prober.run_forever()
