#!/bin/sh
# The HA district's PostgreSQL standby (docker-compose.yml, profile ha): on its first start, a base backup of the
# primary with the standby's settings (-R: standby.signal and primary_conninfo), then a hot standby streaming from it.
# Promote it by hand when the primary is lost for good: docs/DEPLOYMENT.md, "When the PostgreSQL primary is lost".
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgres -U replicator; do sleep 2; done
  PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup -h postgres -U replicator -D "$PGDATA" -R -X stream -P
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
