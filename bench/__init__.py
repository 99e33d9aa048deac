"""Benchmarks of the quiz and audio services against their ceilings (``python -m bench``).

Everything runs on loopback: a throwaway PostgreSQL database per service, the jservice
emulator, one instance of each service and the project's nginx gateway (``devstack``), plus
bare ``lame``, ``wrk`` and a second, minimal nginx serving a static file as the ceilings.
Every figure is a median over repeats and every comparison a ratio measured in the same run.
"""
