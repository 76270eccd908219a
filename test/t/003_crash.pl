# A background worker that crashes (SIGKILL, after which the server restarts
# all its processes): its committed 'running' row is reported, and corrected
# in the log, as error 'interrupted' with SQLSTATE 57P01, because no worker
# runs it, however young it is; and so it is, without any monitoring call,
# by the next run logged in a session (its retention check).
#
# The kill is on purpose, so it is declared for tools/test's scan of the
# server logs: the killed PID goes into <server log>.expected-crashes.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# PostgreSQL::Test::Cluster turns restart_after_crash off; this test needs it.
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
lc_messages = 'C'
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE crash_knobs (sleep_s float8 NOT NULL);
INSERT INTO crash_knobs VALUES (0);
CREATE FUNCTION crash_slow() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep((SELECT sleep_s FROM public.crash_knobs));
    RETURN 1;
END $$;
CREATE MATERIALIZED VIEW crash_v AS SELECT 1 AS id, crash_slow() AS x;
CREATE UNIQUE INDEX ON crash_v (id);
CREATE MATERIALIZED VIEW crash_w AS SELECT 1 AS id;
CREATE UNIQUE INDEX ON crash_w (id);
UPDATE crash_knobs SET sleep_s = 300;
});

# Start a background refresh of crash_v, wait until its worker sleeps in
# the view's query, kill it (declared for the scan of the server logs), and
# wait for the server to be back.  Returns the run id.
sub crash_a_run
{
	my $run_id = $node->safe_psql('postgres',
		"SELECT metrics_refresh_trigger('crash_v', wait => false)->>'run_id'");
	like($run_id, qr/^\d+$/, 'the background refresh started');

	my $worker_sql = "SELECT pid FROM pg_stat_activity
	  WHERE backend_type = 'metrics_refresh worker' AND wait_event = 'PgSleep'";
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($worker_sql) w"),
		'the worker sleeps in the view\'s query');
	my $pid = $node->safe_psql('postgres', $worker_sql);

	append_to_file($node->logfile . '.expected-crashes', "$pid\n");
	my $log_offset = -s $node->logfile;
	is(kill('KILL', $pid), 1, "SIGKILL sent to worker $pid");

	$node->wait_for_log(qr/\(PID $pid\) was terminated by signal 9/, $log_offset);
	$node->wait_for_log(qr/database system is ready to accept connections/, $log_offset);
	ok($node->poll_query_until('postgres', 'SELECT true'), 'the server is back');
	return $run_id;
}

# A run's log row: status|message|sqlstate|finished.
sub log_row_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres',
		"SELECT concat_ws('|', status, error_message, sqlstate, finished_at IS NOT NULL)
		 FROM metrics_refresh_log WHERE id = $id");
}

my $run_id = crash_a_run();

is($node->safe_psql('postgres', "SELECT status FROM metrics_refresh_log WHERE id = $run_id"),
	'running', "the crashed run's row after the restart");
is( $node->safe_psql(
		'postgres',
		"SELECT concat_ws('|', r->>'status', r->>'message', r->>'success', r->>'sqlstate')
		 FROM metrics_refresh_run_status($run_id) r"),
	'error|interrupted|false|57P01',
	'run status of the crashed run');
is(log_row_of($run_id), 'error|interrupted|57P01|t', 'log row of the crashed run');
is($node->safe_psql('postgres', "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'"),
	'0', 'nothing left running');

# Again, and this time nobody asks: the next run logged (of another view)
# finds the run lost and marks it.
$run_id = crash_a_run();
is($node->safe_psql('postgres', "SELECT status FROM metrics_refresh_log WHERE id = $run_id"),
	'running', "the second crashed run's row after the restart");
is($node->safe_psql('postgres', "SELECT metrics_refresh_run('crash_w')->>'status'"),
	'success', 'a run of another view');
is(log_row_of($run_id), 'error|interrupted|57P01|t',
	'the crashed run marked by that run, without a monitoring call');

$node->stop;
done_testing();
