"""Sessions kept in the database and read through the cache, which is a help and never a dependency.

Django's `cached_db` store already reads and saves past a cache it cannot reach, but not when it
copies a session from the database into the cache, checks a new key or deletes one: with Redis down
nobody could log in or out. Here every cache call may fail; the database alone then decides.

A cached copy lives at most CACHE_SECONDS: a logout while the cache is unreachable cannot delete the
copy, and the copy must not outlive the outage by long if the cache comes back with its data.
"""

import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore

log = logging.getLogger(__name__)
CACHE_SECONDS = 600


class SessionStore(cached_db.SessionStore):
    def load(self):
        data = None
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            log.warning("session cache unreachable; reading the database", exc_info=True)
        if data is not None:
            return data
        stored = self._get_session_from_db()
        if not stored:
            return {}
        data = self.decode(stored.session_data)
        self._remember(data, self.get_expiry_age(expiry=stored.expire_date))
        return data

    def save(self, must_create=False):
        DBStore.save(self, must_create)
        self._remember(self._session, self.get_expiry_age())

    def exists(self, session_key):
        try:
            if session_key and self.cache_key_prefix + session_key in self._cache:
                return True
        except Exception:
            log.warning("session cache unreachable; asking the database", exc_info=True)
        return DBStore.exists(self, session_key)

    def delete(self, session_key=None):
        DBStore.delete(self, session_key)
        session_key = session_key or self.session_key
        if session_key is None:
            return
        try:
            self._cache.delete(self.cache_key_prefix + session_key)
        except Exception:
            log.warning("session cache unreachable; its copy expires on its own", exc_info=True)

    def _remember(self, data: dict, seconds: int) -> None:
        try:
            self._cache.set(self.cache_key, data, min(seconds, CACHE_SECONDS))
        except Exception:
            log.warning("session cache unreachable; not keeping a copy", exc_info=True)
