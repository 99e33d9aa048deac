"""The test kit of every test suite of the project (not shipped: setuptools leaves it out).

- ``postgres``: throwaway PostgreSQL databases, ``unavailable`` (skip locally, fail in CI);
- ``apps``: ``running_app``, an app's lifespan with an in-process client;
- ``problems``: ``assert_problem``, the one check of a problem+json answer;
- ``audio``: ``AudioUser``, ``create_user``, ``upload``, ``bearer_header`` against any audio client
  (in-process or through the gateway);
- ``wav``: the WAV files (``tone_wav``, accepted and refused variants) and MP3 analysis;
- ``jservice``: jservice items with the real API's shape and quirks (``data/``).
"""
