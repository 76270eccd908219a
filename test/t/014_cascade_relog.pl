# A cascade node whose transaction is lost to an error outside its refresh
# is logged again, as skipped, in a transaction of its own, and the views
# below it are skipped (src/cascade.c, log_lost_node).  Two failure paths of
# that re-logging, with the error injected by a trigger on the log (a
# trigger sends the log's rows through the INSERT statement, which fires
# it):
#
# 1. The re-logging fails too, for a reason that is not a stop: the cascade
#    ends there, with a WARNING that says why, and the caller that waited is
#    told how many views have no row (not_logged).
# 2. A first stop request (pg_terminate_backend) cuts the re-logging short:
#    the stop is answered by logging the node again, which succeeds, and
#    every view has its row; no WARNING.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use MetricsRefreshSession;

my $node = PostgreSQL::Test::Cluster->new('relog');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE rl_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO rl_src VALUES (1, 1), (2, 2);
CREATE MATERIALIZED VIEW rl_root AS SELECT id, v FROM rl_src;
CREATE UNIQUE INDEX ON rl_root (id);
CREATE MATERIALIZED VIEW rl_mid AS SELECT id, v FROM rl_root;
CREATE UNIQUE INDEX ON rl_mid (id);
CREATE MATERIALIZED VIEW rl_leaf AS SELECT id, v FROM rl_mid;
CREATE UNIQUE INDEX ON rl_leaf (id);
CREATE MATERIALIZED VIEW rl_other AS SELECT id, v FROM rl_root;
CREATE UNIQUE INDEX ON rl_other (id);
-- What the trigger does to rl_mid's rows: 'fail' raises for each of them,
-- 'fail_run' raises for its run's row and lets the skipped one through,
-- after sleeping the first time.  rl_tries counts the tries of the skipped
-- row (a sequence: not rolled back with them).
CREATE TABLE rl_mode (mode text NOT NULL);
INSERT INTO rl_mode VALUES ('off');
CREATE SEQUENCE rl_tries;
CREATE FUNCTION rl_inject() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, public AS $$
DECLARE
    m text := (SELECT mode FROM public.rl_mode);
    try bigint;
BEGIN
    IF NEW.view_name = 'public.rl_mid' AND m <> 'off' THEN
        IF NEW.status = 'skipped' THEN
            try := nextval('public.rl_tries');
        END IF;
        IF m = 'fail' OR NEW.status <> 'skipped' THEN
            RAISE EXCEPTION 'rl_inject refuses % row of %', NEW.status, NEW.view_name;
        END IF;
        IF try = 1 THEN
            PERFORM pg_sleep(300);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER rl_inject BEFORE INSERT ON metrics_refresh_log
    FOR EACH ROW EXECUTE FUNCTION rl_inject();
});

my $cascade_sql =
  "SELECT r->>'cascade_id', r->>'success', r->>'status', r->>'not_logged', r->>'counts' "
  . "FROM metrics_refresh_cascade('rl_root') r";

# The rows of the latest cascade: view (without "public.rl_"), status and
# skip reason, in the order they were logged.
my $cascade_rows_sql =
  "SELECT string_agg(substr(view_name, 11) || ':' || status || coalesce(':' || skip_reason, ''), ' ' ORDER BY id)
   FROM metrics_refresh_log WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log)";

my $no_worker_sql =
  "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'";

# The cascade's order (its plan): rl_root, rl_mid, rl_leaf, rl_other.
$node->safe_psql('postgres', "UPDATE rl_mode SET mode = 'off'");
like($node->safe_psql('postgres', $cascade_sql),
	qr/^\d+\|true\|success\|\|\{"success": 4\}$/, 'without the trigger failing, all four are refreshed');
is( $node->safe_psql('postgres', $cascade_rows_sql),
	'root:success mid:success leaf:success other:success',
	'in that order');

# 1. Both of rl_mid's rows refused: its run's row, then the skipped row
# that would replace it.
$node->safe_psql('postgres', "UPDATE rl_src SET v = v + 10; UPDATE rl_mode SET mode = 'fail'");
my ($out, $err) = ('', '');
$node->psql('postgres', $cascade_sql, stdout => \$out, stderr => \$err);
like($out, qr/^(\d+)\|false\|error\|3\|\{"success": 1\}$/,
	'the caller is told that three views have no row (not_logged)');
my ($failed_id) = $out =~ /^(\d+)/;
is($err, '', 'and gets no error or warning: the run it started is logged');
is($node->safe_psql('postgres', $cascade_rows_sql), 'root:success',
	'only the root has a row');
ok($node->poll_query_until('postgres', $no_worker_sql), 'the worker is gone');
like(
	slurp_file($node->logfile),
	qr/WARNING:  cascade $failed_id from "public\.rl_root" ended without logging 3 of its views\n.*DETAIL:  Logging the views left failed \(rl_inject refuses skipped row of public\.rl_mid\); those views have no row in its history\./,
	'the server log says which cascade, how many views, and why');
# rl_mid's refresh was rolled back with its transaction; the root's was
# committed before it, on its own.
is( $node->safe_psql('postgres',
		"SELECT (SELECT sum(v) FROM rl_root) || ' ' || (SELECT sum(v) FROM rl_mid)"),
	'23 3', 'the root was refreshed, rl_mid was not');
is($node->safe_psql('postgres', 'SELECT last_value FROM rl_tries'),
	'1', 'rl_mid\'s skipped row was tried once: without a stop request, no retry');

# 2. rl_mid's run row refused; the skipped row that replaces it sleeps the
# first time, and a stop request ends that sleep.  The stop is answered by
# logging rl_mid again, as skipped, which succeeds now; the views after it
# are skipped: rl_leaf, which reads it, because rl_mid failed, and rl_other,
# another branch, as interrupted (once a node's transaction is lost, the
# cascade does not refresh any view left).
$node->safe_psql('postgres',
	"UPDATE rl_mode SET mode = 'fail_run'; SELECT setval('rl_tries', 1, false)");
my $caller = psql_session($node);
$caller->{in} .= "$cascade_sql;\n";
$caller->{h}->pump_nb while length $caller->{in};
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'metrics_refresh worker' AND wait_event = 'PgSleep'
		   AND query LIKE '%: public.rl_mid'"),
	'the worker sleeps while it logs rl_mid again');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'");
$caller->{h}->pump until $caller->{out} =~ /\n/ || $caller->{err} =~ /ERROR/;
$caller->{in} .= "\\q\n";
$caller->{h}->finish;
is($caller->{err}, '', 'the caller gets no error or warning');
like($caller->{out}, qr/^(\d+)\|false\|skipped\|\|\{"skipped": 3, "success": 1\}\n$/,
	'and every view of the cascade is counted: none left without a row');
my ($stopped_id) = $caller->{out} =~ /^(\d+)/;
like(
	$node->safe_psql('postgres', $cascade_rows_sql),
	qr/^root:success mid:skipped:skipped: the cascade was interrupted \(rl_inject refuses success row of public\.rl_mid\) leaf:skipped:upstream public\.rl_mid failed other:skipped:skipped: the cascade was interrupted$/,
	'rl_mid is logged skipped with the error that lost its run, and the rest skipped');
is($node->safe_psql('postgres', 'SELECT last_value FROM rl_tries'), '2',
	'rl_mid\'s skipped row was tried twice: cut short once, then logged');
ok($node->poll_query_until('postgres', $no_worker_sql), 'the worker is gone');
unlike(
	slurp_file($node->logfile),
	qr/cascade $stopped_id from "public\.rl_root" ended without logging/,
	'no WARNING for that cascade: nothing was left unlogged');

$node->stop;
done_testing();
