"""A local SMTP catcher for `make run`: every message lands in `<dir>/<UTC timestamp>-<n>.eml`.

Names sort in arrival order (timestamp first, then a counter for messages within one microsecond).
Run: `python -m ecportal.mailcatcher --port 1025 --dir var/mail`.
"""

import argparse
import itertools
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller


class FileHandler:
    """aiosmtpd handler writing each message, as received, to its own file."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        with self._lock:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            path = self.directory / f"{stamp}-{next(self._counter):06d}.eml"
            # Write then rename, so a reader never sees half a message.
            partial = path.with_suffix(".part")
            partial.write_bytes(envelope.original_content or envelope.content)
            partial.rename(path)
        return "250 Message accepted for delivery"


def serve(host: str, port: int, directory: Path) -> Controller:
    controller = Controller(FileHandler(directory), hostname=host, port=port)
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    args = parser.parse_args()
    controller = serve(args.host, args.port, args.dir)
    print(f"SMTP catcher on {args.host}:{args.port}, writing to {args.dir}/", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
