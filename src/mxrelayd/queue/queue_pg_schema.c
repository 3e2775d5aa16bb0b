/*
 * queue_pg_schema: the PostgreSQL queue's schema, its version, and the
 * server settings the 250 reply rests on.
 *
 * Owns: the tables, indexes and functions (version 1), creating them in a
 * database that has none and upgrading an older version by steps, under
 * an advisory transaction lock so that nodes starting together do it
 * once; refusing a schema newer than this program knows (a node of an
 * older release must not write a newer layout), and a server whose
 * commits are not durable (synchronous_commit off, fsync off).
 * Never: drops or rewrites data of a version it does not know.
 */
#include "queue_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/*
 * Version 1. States are stored as names, as in the SQLite queue, so that
 * psql shows what mxrelay queue shows. Leases: lease_node holds a
 * recipient for that node until lease_until (the server's clock, in
 * seconds); 0 is no lease. A body up to QUEUE_PG_INLINE octets is the
 * message's own `body`; a larger one is `body_chunks` rows of `body`,
 * QUEUE_PG_CHUNK octets each but the last, stored uncompressed (EXTERNAL:
 * mail compresses poorly and the CPU is better spent elsewhere). `prefix`
 * is kept for octets delivered before the stored text (signatures added
 * at the end of DATA).
 */
static const char queue_pg_schema_v1[] =
    "CREATE TABLE mxrelay_schema (version integer NOT NULL);"
    "INSERT INTO mxrelay_schema (version) VALUES (0);"
    "CREATE TABLE messages ("
    " id text PRIMARY KEY,"
    " sender text NOT NULL,"
    " envid text,"
    " ret smallint NOT NULL DEFAULT 0,"
    " smtputf8 boolean NOT NULL DEFAULT false,"
    " body_8bit boolean NOT NULL DEFAULT false,"
    " requiretls boolean NOT NULL DEFAULT false,"
    " tls_optional boolean NOT NULL DEFAULT false,"
    " client_ip text,"
    " client_helo text,"
    " auth_user text,"
    " protocol text,"
    " received_at bigint NOT NULL,"
    " size bigint NOT NULL,"
    " held boolean NOT NULL DEFAULT false,"
    " body bytea,"
    " body_chunks integer NOT NULL DEFAULT 0,"
    " prefix bytea,"
    " node text NOT NULL);"
    "ALTER TABLE messages ALTER COLUMN body SET STORAGE EXTERNAL;"
    "CREATE INDEX messages_received ON messages (received_at, id);"
    "CREATE TABLE recipients ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " msg_id text NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " address text NOT NULL,"
    " domain text NOT NULL,"
    " orcpt text,"
    " notify integer NOT NULL DEFAULT 0,"
    " state text NOT NULL DEFAULT 'pending',"
    " tries integer NOT NULL DEFAULT 0,"
    " next_try bigint NOT NULL,"
    " first_fail bigint NOT NULL DEFAULT 0,"
    " last_code integer NOT NULL DEFAULT 0,"
    " last_esc text,"
    " last_reply text,"
    " last_mx text,"
    " updated_at bigint NOT NULL,"
    " lease_node text,"
    " lease_until bigint NOT NULL DEFAULT 0);"
    "CREATE INDEX recipients_due ON recipients (next_try, id)"
    " WHERE state IN ('pending', 'deferred');"
    "CREATE INDEX recipients_msg ON recipients (msg_id);"
    "CREATE INDEX recipients_domain ON recipients (domain) WHERE state IN ('pending', 'deferred');"
    "CREATE INDEX recipients_failed ON recipients (updated_at) WHERE state = 'failed';"
    "CREATE INDEX recipients_final ON recipients (updated_at)"
    " WHERE state IN ('delivered', 'bounced');"
    "CREATE INDEX recipients_lease ON recipients (lease_node) WHERE lease_node IS NOT NULL;"
    "CREATE TABLE history ("
    " id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " rcpt_id bigint NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,"
    " at bigint NOT NULL,"
    " status text NOT NULL,"
    " code integer NOT NULL DEFAULT 0,"
    " esc text,"
    " reply text,"
    " mx text);"
    "CREATE INDEX history_rcpt ON history (rcpt_id);"
    "CREATE TABLE body ("
    " msg_id text NOT NULL,"
    " seq integer NOT NULL,"
    " data bytea NOT NULL,"
    " PRIMARY KEY (msg_id, seq));"
    "ALTER TABLE body ALTER COLUMN data SET STORAGE EXTERNAL;"
    "CREATE TABLE destinations ("
    " key text PRIMARY KEY,"
    " failures integer NOT NULL,"
    " backoff_from bigint NOT NULL,"
    " backoff_until bigint NOT NULL,"
    " reason text NOT NULL DEFAULT '',"
    " changed bigint NOT NULL);"
    "CREATE INDEX destinations_changed ON destinations (changed);"
    "CREATE TABLE sts_policies ("
    " domain text PRIMARY KEY,"
    " id text NOT NULL,"
    " policy text NOT NULL,"
    " fetched bigint NOT NULL,"
    " expires bigint NOT NULL);"
    "CREATE TABLE tlsrpt_results ("
    " day bigint NOT NULL,"
    " domain text NOT NULL,"
    " policy_type text NOT NULL,"
    " policy text NOT NULL DEFAULT '',"
    " result text NOT NULL DEFAULT '',"
    " sending_ip text NOT NULL DEFAULT '',"
    " mx_host text NOT NULL DEFAULT '',"
    " mx_ip text NOT NULL DEFAULT '',"
    " mx_helo text NOT NULL DEFAULT '',"
    " detail text NOT NULL DEFAULT '',"
    " sessions bigint NOT NULL,"
    " PRIMARY KEY (day, domain, policy_type, policy, result, sending_ip, mx_host, mx_ip));"
    "CREATE TABLE tlsrpt_reports ("
    " day bigint NOT NULL,"
    " domain text NOT NULL,"
    " report_id text NOT NULL,"
    " sent_at bigint NOT NULL,"
    " outcome text NOT NULL,"
    " PRIMARY KEY (day, domain));"
    /* The server's clock: leases and the order of the fleet's changes agree across nodes. */
    "CREATE FUNCTION mxr_now() RETURNS bigint LANGUAGE sql VOLATILE AS"
    " $$SELECT floor(extract(epoch FROM clock_timestamp()))::bigint$$;"
    "CREATE FUNCTION mxr_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS"
    " $$SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint$$;"
    /* A DSN's commit marks its recipients: every one still failed, or none (bounced once). */
    "CREATE FUNCTION mxr_bounced_for(ids bigint[], at bigint) RETURNS integer"
    " LANGUAGE plpgsql AS $$DECLARE n integer; BEGIN"
    " UPDATE recipients SET state = 'bounced', updated_at = at"
    " WHERE id = ANY(ids) AND state = 'failed';"
    " GET DIAGNOSTICS n = ROW_COUNT;"
    " IF n <> cardinality(ids) THEN RAISE EXCEPTION"
    " 'mxrelay: % of % recipients were bounced already (by another node)',"
    " cardinality(ids) - n, cardinality(ids) USING ERRCODE = 'MXR01'; END IF;"
    " RETURN n; END$$;"
    /*
     * One of a destination's maxn delivery slots: a session-level advisory
     * lock, given back by pg_advisory_unlock or when the node's session
     * ends. held: the slots this session has already (locks stack in one
     * session, so they are skipped). 0 when all are taken.
     */
    "CREATE FUNCTION mxr_slot_take(k text, maxn integer, held integer[]) RETURNS integer"
    " LANGUAGE plpgsql AS $$DECLARE h integer := hashtext('mxrelay-dest:' || k);"
    " s integer; BEGIN"
    " FOR s IN 1..maxn LOOP"
    " IF NOT (s = ANY(held)) AND pg_try_advisory_lock(h, s) THEN RETURN s; END IF;"
    " END LOOP; RETURN 0; END$$;"
    "UPDATE mxrelay_schema SET version = 1;";

/* The steps from each version to the next (index: the version upgraded from); none yet. */
static const char *const queue_pg_upgrades[] = {
	[0] = queue_pg_schema_v1,
};

const char *queue_pg_schema_durable(const char *sync_commit, const char *fsync)
{
	/*
	 * Every value but off makes a commit wait for the local WAL flush;
	 * on, remote_write and remote_apply also wait for a synchronous
	 * standby when there is one (docs/fleet.md).
	 */
	if (sync_commit == NULL || strcmp(sync_commit, "off") == 0)
		return "synchronous_commit is off: a commit would return before it is on disk";
	if (fsync == NULL || strcmp(fsync, "on") != 0)
		return "fsync is off on the server: nothing it commits is on disk for sure";
	return NULL;
}

/* Run sql; false with the server's message in err. */
static bool queue_pg_schema_exec(PGconn *db, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(db, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok) {
		queue_pg_sql_error(res, err, errlen);
	}
	PQclear(res);
	return ok;
}

int queue_pg_schema_version(PGconn *db, char *err, size_t errlen)
{
	PGresult *res = PQexec(db, "SELECT to_regclass('mxrelay_schema') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		queue_pg_sql_error(res, err, errlen);
		PQclear(res);
		return -1;
	}
	bool exists = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!exists)
		return 0;
	res = PQexec(db, "SELECT max(version) FROM mxrelay_schema");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		queue_pg_sql_error(res, err, errlen);
		PQclear(res);
		return -1;
	}
	int v = (int)queue_pg_sql_int(res, 0, 0, 0);
	PQclear(res);
	return v;
}

/* Check what the server promises for a commit; false with err. */
static bool queue_pg_schema_check_durable(PGconn *db, char *err, size_t errlen)
{
	PGresult *res = PQexec(db, "SELECT current_setting('synchronous_commit'),"
	    " current_setting('fsync')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		queue_pg_sql_error(res, err, errlen);
		PQclear(res);
		return false;
	}
	const char *why = queue_pg_schema_durable(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	if (why != NULL)
		snprintf(err, errlen, "refused: %s", why);
	PQclear(res);
	return why == NULL;
}

int queue_pg_schema_ensure(PGconn *db, char *err, size_t errlen)
{
	if (!queue_pg_schema_check_durable(db, err, errlen))
		return -1;
	int v = queue_pg_schema_version(db, err, errlen);
	if (v < 0)
		return -1;
	if (v > QUEUE_PG_SCHEMA_VERSION) {
		snprintf(err, errlen, "queue schema version %d is newer than this program's %d: "
		    "run the newer mxrelay, or restore the database", v, QUEUE_PG_SCHEMA_VERSION);
		return -1;
	}
	if (v == QUEUE_PG_SCHEMA_VERSION)
		return 0;
	/* One node creates or upgrades; the others wait for it here, then see its work. */
	if (!queue_pg_schema_exec(db, "BEGIN", err, errlen))
		return -1;
	if (!queue_pg_schema_exec(db, "SELECT pg_advisory_xact_lock(hashtextextended("
	    "'mxrelay-schema', 0))", err, errlen))
		goto fail;
	v = queue_pg_schema_version(db, err, errlen);
	if (v < 0)
		goto fail;
	int from = v;
	for (; v < QUEUE_PG_SCHEMA_VERSION; v++)
		if (!queue_pg_schema_exec(db, queue_pg_upgrades[v], err, errlen))
			goto fail;
	if (!queue_pg_schema_exec(db, "COMMIT", err, errlen))
		goto fail;
	if (from != QUEUE_PG_SCHEMA_VERSION)
		log_msg(LOG_LVL_INFO, "op=queue_migrate backend=postgresql from=%d to=%d", from,
		    QUEUE_PG_SCHEMA_VERSION);
	return 0;
fail:
	PQclear(PQexec(db, "ROLLBACK"));
	return -1;
}
