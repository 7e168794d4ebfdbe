#!/bin/sh
# The HA district's PostgreSQL primary (docker-compose.yml, profile ha): run once by the postgres image when its data
# directory is made (/docker-entrypoint-initdb.d). A role for the standby's streaming replication, allowed in pg_hba.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
