"""The admin each service can serve at ``/admin/<service>/`` (starlette-admin).

- ``password``: the Argon2id hash of the admin password (``python -m shared.admin.password``);
- ``login``: the login page's provider (password check, rate limits, the session);
- ``responses``: the admin's cookies and security headers;
- ``site``: ``mount_admin``, which puts the admin together and mounts it on a service's app.

This package's ``__init__`` imports nothing, so that settings can use ``password`` without
loading the admin library.
"""
