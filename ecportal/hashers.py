"""The portal's password hasher: Argon2id at the cost OWASP's Password Storage Cheat Sheet names as
its first recommended configuration (19 MiB of memory, 2 iterations, 1 lane).

Django's own Argon2 defaults (100 MiB, 8 lanes) took a third of a second per sign-in on a two-core
host, and its PBKDF2 (1.5 million rounds) half a second: nearly all of a sign-in. Stored hashes with
other parameters (or from PBKDF2) still verify and are rehashed with these at the next sign-in.
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class PortalArgon2PasswordHasher(Argon2PasswordHasher):
    memory_cost = 19 * 1024  # KiB
    time_cost = 2
    parallelism = 1
