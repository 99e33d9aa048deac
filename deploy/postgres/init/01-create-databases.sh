#!/usr/bin/env bash
# Creates the services' databases, each owned by its own role, on the first start of the
# postgres container (an empty data volume). The official image runs this from
# /docker-entrypoint-initdb.d as the superuser; later changes to the passwords in .env do not
# reach an existing volume (ALTER ROLE ... PASSWORD, or `docker compose down -v` to start over).
set -euo pipefail

: "${QUIZ_DB_PASSWORD:?QUIZ_DB_PASSWORD is not set}"
: "${AUDIO_DB_PASSWORD:?AUDIO_DB_PASSWORD is not set}"

# psql variables (:'name') quote the passwords as SQL literals; the heredoc is not expanded.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v quiz_password="$QUIZ_DB_PASSWORD" \
    -v audio_password="$AUDIO_DB_PASSWORD" <<'SQL'
CREATE ROLE quiz LOGIN PASSWORD :'quiz_password';
CREATE DATABASE quiz OWNER quiz;
REVOKE ALL ON DATABASE quiz FROM PUBLIC;

CREATE ROLE audio LOGIN PASSWORD :'audio_password';
CREATE DATABASE audio OWNER audio;
REVOKE ALL ON DATABASE audio FROM PUBLIC;
SQL
