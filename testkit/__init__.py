"""What the tests and the benchmarks share to run the real parts: cfsim as a subprocess (`cfsim`), a
Celery worker and beat against a chosen database and broker (`stack`), a driver for the embedded stack
(`embedded`), and the facts of cfsim's demo seed they rely on (`demo`)."""
