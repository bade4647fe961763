"""The embedded broker (`make run`): kombu's filesystem transport, read by the worker's event loop.

A prefork worker runs one of two ways. On a transport its event loop can wait on (Redis), each
pool process gets its own job pipe, and the message of a pool process that dies is requeued
(acks_late + reject_on_worker_lost). On a transport it can only poll (kombu's filesystem and
SQLAlchemy transports), the worker falls back to billiard's threaded pool, whose processes share
one job pipe behind one lock between processes, held by whichever idle process is waiting on the
pipe. Kill that process and the lock stays taken: the replacement processes wait on it for good,
the messages already handed to the pool are never run nor acked, so the prefetch limit stays
reached and the worker takes no other message while its main process looks healthy.

This transport tells Celery it can be driven by the event loop, so the worker takes the Redis
path, and it polls the message folder from a timer on that loop instead of from sockets. It also
writes each message under a name readers skip and renames it into place: kombu's transport
creates the file under its final name and then writes it, so a worker polling in between read an
empty message (and stopped), and a publisher killed in between left an empty one behind.
"""

import os
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# Messages handed over per poll at most, so a flood never keeps the loop from the pool's results.
MAX_PER_POLL = 100


class Channel(filesystem.Channel):
    """kombu's filesystem channel, publishing each message in one atomic step."""

    def _put(self, queue, payload, **kwargs):
        """Put a message on `queue`: written in full under a `.partial` name, then renamed, which is
        atomic, to the name readers look for (`<ms>_<uuid>.<queue>.msg`, oldest first)."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        path = os.path.join(self.data_folder_out, name)
        try:
            with open(path + ".partial", "wb") as partial:
                partial.write(str_to_bytes(dumps(payload)))
            os.replace(path + ".partial", path)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {path!r} to directory") from exc


class Transport(filesystem.Transport):
    """kombu's filesystem transport, polled by a timer on the worker's event loop."""

    Channel = Channel
    implements = filesystem.Transport.implements.extend(asynchronous=True)

    _poll_timer = None

    def register_with_event_loop(self, connection, loop):
        self._stop_polling()
        self._poll_timer = loop.call_repeatedly(self.polling_interval, self._deliver_waiting)

    def unregister_from_event_loop(self, connection, loop):
        self._stop_polling()

    def close_connection(self, connection):
        self._stop_polling()
        super().close_connection(connection)

    def _stop_polling(self):
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None

    def _deliver_waiting(self):
        """Hand the consumers the waiting messages, as many as their prefetch limits allow."""
        try:
            for _ in range(MAX_PER_POLL):
                self.cycle.get(self._deliver, timeout=0)
        except Empty:
            pass
