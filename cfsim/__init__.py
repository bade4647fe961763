"""cfsim: a stand-alone simulator of the Cloud Foundry parts ecportal uses.

It speaks the Cloud Controller v3 API (real JSON shapes, status codes, error bodies, pagination and
async jobs), a UAA token endpoint under ``/uaa`` and a router on a second port. Run it with
``python -m cfsim --port 9000 --router-port 9080 [--seed FILE]``. It never imports the portal.
"""
