# A caller of metrics_refresh_trigger(view, wait => false) that is
# terminated (pg_terminate_backend, as for a lost HTTP client with
# client_connection_check_interval) while its worker waits to record the
# run: the worker is stopped on the caller's way out, so the view is not
# refreshed and nothing is logged.
#
# Another session holds the log in SHARE mode, so the worker cannot insert
# its 'running' row; the caller waits for it in metrics_refresh_trigger.
# Then the other way round: a cascade's worker terminated while its caller
# waits; and one stopped while the log is locked.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use MetricsRefreshSession;

my $node = PostgreSQL::Test::Cluster->new('terminated');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE ct_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO ct_src VALUES (1, 1);
CREATE MATERIALIZED VIEW ct_v AS SELECT id, v FROM ct_src;
CREATE UNIQUE INDEX ON ct_v (id);
UPDATE ct_src SET v = 2;
});

my $holder = psql_session($node);
$holder->{in} .= "BEGIN;\nLOCK metrics_refresh_log IN SHARE MODE;\nSELECT 'locked';\n";
$holder->{h}->pump until $holder->{out} =~ /locked/;

my $caller = psql_session($node);
$caller->{in} .= "SELECT metrics_refresh_trigger('ct_v', wait => false)->>'status';\n";
$caller->{h}->pump while length $caller->{in};

# The worker waits for the log's lock; the caller waits for the worker.
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'metrics_refresh worker' AND wait_event_type = 'Lock'"),
	'the worker waits for the lock on the log');
my $caller_pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity
	 WHERE query LIKE 'SELECT metrics_refresh_trigger%' AND backend_type = 'client backend'");
like($caller_pid, qr/^\d+$/, 'the caller waits in metrics_refresh_trigger');

$node->safe_psql('postgres', "SELECT pg_terminate_backend($caller_pid)");
# No "\q": psql may have exited already (a write would then fail);
# finish() closes its input, which ends it otherwise.
$caller->{h}->finish;
like($caller->{err}, qr/terminat/, 'the caller was terminated');

# Once the caller is gone (its exit stopped the worker first), the log is
# released well within the worker's 10 s lock limit: a worker still there
# would now record and run the refresh.
ok( $node->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $caller_pid"),
	'the caller is gone');
$holder->{in} .= "COMMIT;\n\\q\n";
$holder->{h}->finish;
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'"),
	'no worker is left');

# A worker that had gone on has logged and refreshed by the time it left.
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'),
	'0', 'no run was logged');
is($node->safe_psql('postgres', 'SELECT v FROM ct_v'), '1', 'the view was not refreshed');

# The other way round: a cascade's worker terminated outside a node's
# refresh, while its first transaction waits for the options' lock (the
# caller has run the view before, and reads its options from its session's
# cache).  The worker dies with its first run still 'running'; the caller
# that waited for it answers that run interrupted (an error), not
# "running", and no dependent was refreshed.
$node->safe_psql(
	'postgres', q{
CREATE MATERIALIZED VIEW ct_w AS SELECT id, v FROM ct_v;
CREATE UNIQUE INDEX ON ct_w (id);
});
# One such cascade of the view given, begun by the statements given (the
# caller's transaction), while another session holds the lock given: from
# before the cascade, or once its worker is seen as the condition given
# says; returns the caller's answer.
sub cascade_with_lost_worker
{
	my ($view, $begin, $lock, $seen) = @_;
	my $waiter = psql_session($node);
	$waiter->{in} .= "SELECT metrics_refresh_run('$view')->>'status';\n";
	$waiter->{h}->pump until $waiter->{out} =~ /\n/ || $waiter->{err} ne '';
	is($waiter->{out} . $waiter->{err}, "success\n", 'the caller has run the view before');
	my $holder = psql_session($node);
	my $take_lock = sub {
		$holder->{in} .= "BEGIN;\n$lock;\nSELECT 'locked';\n";
		$holder->{h}->pump until $holder->{out} =~ /locked/;
	};
	# Without a condition, the lock is taken before the cascade starts.
	$take_lock->() unless $seen;
	$waiter->{out} = '';
	$waiter->{in} .= $begin
	  . "SELECT r->>'status', r->>'success', r->>'counts' FROM metrics_refresh_cascade('$view') r;\n";
	$waiter->{h}->pump_nb while length $waiter->{in};
	if ($seen)
	{
		$node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker' AND $seen");
		$take_lock->();
	}
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity
			 WHERE backend_type = 'metrics_refresh worker' AND wait_event_type = 'Lock'"),
		'the cascade\'s worker waits for the lock');
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'");
	$waiter->{h}->pump until $waiter->{out} =~ /\n/;
	my $answer = $waiter->{out};
	$holder->{in} .= "COMMIT;\n\\q\n";
	$holder->{h}->finish;
	$waiter->{in} .= ($begin ? "COMMIT;\n" : '') . "\\q\n";
	$waiter->{h}->finish;
	return $answer;
}

# The first run's row, and the rows after it.
my $cascade_rows_sql =
  "SELECT view_name, status, sqlstate FROM metrics_refresh_log
   WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log) ORDER BY id";

is( cascade_with_lost_worker(
		'ct_v', '', 'LOCK metrics_refresh_config IN ACCESS EXCLUSIVE MODE', ''),
	"error|false|{\"error\": 1}\n",
	'the caller answers the first run interrupted');
is($node->safe_psql('postgres', $cascade_rows_sql), 'public.ct_v|error|57P01',
	'the first run is logged interrupted, and nothing after it');

# Under REPEATABLE READ the caller cannot mark the row (and reads the
# options from the table, so the lock is on the log, taken while the first
# run's refresh sleeps, which its logging then waits for); it answers the
# same, and the row is marked by the next monitoring call.
$node->safe_psql(
	'postgres', q{
CREATE MATERIALIZED VIEW ct_slow AS SELECT id, v FROM ct_src, pg_sleep(2);
CREATE UNIQUE INDEX ON ct_slow (id);
CREATE MATERIALIZED VIEW ct_slow_w AS SELECT id, v FROM ct_slow;
CREATE UNIQUE INDEX ON ct_slow_w (id);
});
is( cascade_with_lost_worker(
		'ct_slow', "BEGIN ISOLATION LEVEL REPEATABLE READ;\n",
		'LOCK metrics_refresh_log IN SHARE MODE', "wait_event = 'PgSleep'"),
	"error|false|{\"error\": 1}\n",
	'under REPEATABLE READ, the caller answers the first run interrupted too');
is($node->safe_psql('postgres', $cascade_rows_sql), 'public.ct_slow|running|',
	'the row is left running there');
$node->safe_psql('postgres',
	"SELECT metrics_refresh_run_status((SELECT max(cascade_id) FROM metrics_refresh_log))");
is($node->safe_psql('postgres', $cascade_rows_sql), 'public.ct_slow|error|57P01',
	'and marked interrupted by the next monitoring call');

# A cascade's worker asked to stop while a dependent refreshes, with the log
# locked by another session.  It answers the stop by logging the dependent
# interrupted and the views left skipped, and waits for the log to do so;
# the stop's own cancel does not cut that short.  Asked once, it logs them
# all once the log is free.  Asked again while it waits, it ends at once,
# the log still locked, with a WARNING; the views it had not logged have no
# row, and a caller that waited for the cascade is answered with an error
# that counts them.
$node->safe_psql(
	'postgres', q{
CREATE TABLE ct_knob (s float8 NOT NULL);
INSERT INTO ct_knob VALUES (0);
CREATE MATERIALIZED VIEW ct_stop_root AS SELECT id, v FROM ct_src;
CREATE UNIQUE INDEX ON ct_stop_root (id);
CREATE MATERIALIZED VIEW ct_stop_sib AS SELECT id, v FROM ct_stop_root;
CREATE UNIQUE INDEX ON ct_stop_sib (id);
CREATE MATERIALIZED VIEW ct_stop_mid AS
    SELECT id, v FROM ct_stop_sib, pg_sleep((SELECT s FROM ct_knob));
CREATE UNIQUE INDEX ON ct_stop_mid (id);
CREATE MATERIALIZED VIEW ct_stop_leaf AS SELECT id, v FROM ct_stop_mid;
CREATE UNIQUE INDEX ON ct_stop_leaf (id);
CREATE MATERIALIZED VIEW ct_stop_leaf2 AS SELECT id, v FROM ct_stop_leaf;
CREATE UNIQUE INDEX ON ct_stop_leaf2 (id);
UPDATE ct_knob SET s = 300;
});
my $worker_in = sub {
	my ($cond) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker' AND $cond");
};
my $stop_worker = sub {
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'");
};
my $no_worker = sub {
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'");
};
# Starts the cascade (from a caller that waits for it, or in the
# background); once its worker sleeps in ct_stop_mid, locks the log and
# stops the worker, which then waits for the lock.  Returns the session
# holding the lock and the caller's.
my $stopped_cascade = sub {
	my ($waiting) = @_;
	my $caller = psql_session($node);
	$caller->{in} .= "SELECT r->>'cascade_id', r->>'success', r->>'status', r->>'not_logged', r->>'counts' FROM "
	  . "metrics_refresh_cascade('ct_stop_root', wait => " . ($waiting ? 'true' : 'false') . ") r;\n";
	$caller->{h}->pump_nb while length $caller->{in};
	ok($worker_in->("wait_event = 'PgSleep' AND query LIKE '%: public.ct_stop_mid'"),
		'the worker refreshes the third view');
	my $holder = psql_session($node);
	$holder->{in} .= "BEGIN;\nLOCK metrics_refresh_log IN SHARE MODE;\nSELECT 'locked';\n";
	$holder->{h}->pump until $holder->{out} =~ /locked/;
	$stop_worker->();
	ok($worker_in->("wait_event_type = 'Lock'"), 'stopped, the worker waits for the log');
	return ($holder, $caller);
};
my $release = sub {
	my ($s) = @_;
	$s->{in} .= ($s->{out} =~ /locked/ ? "COMMIT;\n" : '') . "\\q\n";
	$s->{h}->finish;
};
my $last_cascade_rows = sub {
	return $node->safe_psql('postgres',
		"SELECT string_agg(substr(view_name, 16) || ':' || status, ' ' ORDER BY id) FROM metrics_refresh_log
		 WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log)");
};

# The caller's answer, once it came (or an error).
my $answer = sub {
	my ($caller) = @_;
	$caller->{h}->pump until $caller->{out} =~ /\n/ || $caller->{err} =~ /ERROR/;
	my $out = $caller->{out};
	$release->($caller);
	is($caller->{err}, '', 'the caller got no error or warning');
	return $out;
};

my ($log_holder, $stop_caller) = $stopped_cascade->(1);
$release->($log_holder);
ok($no_worker->(), 'once the log is free, the worker ends');
like(
	$answer->($stop_caller),
	qr/^\d+\|false\|error\|\|\{"error": 1, "skipped": 2, "success": 2\}\n$/,
	'stopped once, the caller that waited is answered with every view');
is($last_cascade_rows->(), 'root:success sib:success mid:error leaf:skipped leaf2:skipped',
	'and every view is logged');

($log_holder, $stop_caller) = $stopped_cascade->(1);
$stop_worker->();
ok($no_worker->(), 'stopped again, it ends at once');
$release->($log_holder);
my $second = $answer->($stop_caller);
like(
	$second,
	qr/^\d+\|false\|error\|3\|\{"success": 2\}\n$/,
	'the caller that waited is answered with an error that counts the views not logged');
is($last_cascade_rows->(), 'root:success sib:success', 'those views have no row');
my ($second_id) = $second =~ /^(\d+)/;
like(
	slurp_file($node->logfile),
	qr/WARNING:  cascade $second_id from "public\.ct_stop_root" ended without logging 3 of its views\n.*DETAIL:  It was asked to stop again while it logged the views left/,
	'the server log says so, and why');

$node->stop;
done_testing();
