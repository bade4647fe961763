"""Django's PostgreSQL backend, with a health check that needs no round trip.

With CONN_HEALTH_CHECKS a reused connection is checked before each request's first query, so that a
connection the server dropped (restart, failover, idle timeout) is replaced instead of failing the
request. Django checks with `SELECT 1`: one more round trip on every request. Here the check is on the
socket: the server ends a connection by sending its goodbye and closing, which leaves the idle socket
readable, so an idle connection whose socket has nothing to read is still held by the server.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if self.pool or self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if not self._held_by_server():
            self.close()
        self.health_check_done = True

    def _held_by_server(self) -> bool:
        connection = self.connection
        if connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return False
        poller = select.poll()  # unlike select.select, any file descriptor number
        try:
            poller.register(connection.fileno(), select.POLLIN)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False
