"""``make compose-test``: the real docker-compose stack on rootful podman.

No container registry is reachable from the machines this runs on, so the base images the
Dockerfiles and docker-compose.yml name are stand-ins built from Debian's packages
(``standins``); the project's own images are built from the real Dockerfiles by the real
compose v2 binary, which drives podman's Docker API (``podman``). Healthchecks run from a
small loop (``healthloop``: no systemd here). ``runner`` puts it together and runs the
asserts, ``tests/compose``, with pytest.
"""
