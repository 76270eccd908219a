# Crashes in the middle of refreshes, and what the server holds after it
# restarts:
#
#   A. kill -9 of a backend in the middle of metrics_refresh_run (its view's
#      query sleeps): the run, logged in the caller's transaction, leaves no
#      row at all, the view keeps its contents, nothing is 'running';
#   B. kill -9 of a background worker waiting for a lock that its view's
#      query needs: the run is reported and corrected as error 'interrupted'
#      (57P01);
#   C. immediate shutdown (pg_ctl -m immediate) while a cascade's first view
#      refreshes: after the restart its run is 'interrupted', none of its
#      dependents was logged; then the view's pg_cron job (its command, as
#      pg_cron would run it: minute schedules are too slow to wait for)
#      runs the whole cascade and succeeds;
#   D. immediate shutdown while a cascade refreshes a dependent: the runs
#      committed before the shutdown stay, nothing is left 'running'.
#
# After each crash the views hold their last committed contents, and the
# next refresh succeeds and publishes the current data.  The kills are on
# purpose, so they are declared for tools/test's scan of the server logs
# (<server log>.expected-crashes).
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'pg_cron is not installed'
  unless -f "$sharedir/extension/pg_cron.control";

my $node = PostgreSQL::Test::Cluster->new('recovery');
$node->init;
# PostgreSQL::Test::Cluster turns restart_after_crash off; this test needs it.
$node->append_conf(
	'postgresql.conf', q{
restart_after_crash = on
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
lc_messages = 'C'
});
$node->start;

# cr_src feeds every view; cr_knobs says how long each view's query sleeps.
# cr_a stands alone; cr_root -> cr_mid -> cr_leaf is a cascade.
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
CREATE TABLE cr_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO cr_src VALUES (1, 10), (2, 20);
CREATE TABLE cr_knobs (view_name text PRIMARY KEY, sleep_s float8 NOT NULL);
INSERT INTO cr_knobs VALUES ('cr_a', 0), ('cr_root', 0), ('cr_mid', 0);
CREATE FUNCTION cr_nap(v text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep((SELECT sleep_s FROM public.cr_knobs WHERE view_name = v));
    RETURN 0;
END $$;
CREATE MATERIALIZED VIEW cr_a AS
    SELECT 1 AS id, (SELECT sum(v) FROM cr_src) + cr_nap('cr_a') AS total;
CREATE UNIQUE INDEX ON cr_a (id);
CREATE MATERIALIZED VIEW cr_root AS
    SELECT id, v + cr_nap('cr_root') AS v FROM cr_src;
CREATE UNIQUE INDEX ON cr_root (id);
CREATE MATERIALIZED VIEW cr_mid AS
    SELECT 1 AS id, sum(v) + cr_nap('cr_mid') AS total FROM cr_root;
CREATE UNIQUE INDEX ON cr_mid (id);
CREATE MATERIALIZED VIEW cr_leaf AS
    SELECT id, total * 2 AS double_total FROM cr_mid;
CREATE UNIQUE INDEX ON cr_leaf (id);
});
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(metrics_refresh_run(v)->>'status', ',' ORDER BY o)
		 FROM unnest(ARRAY['cr_a', 'cr_root', 'cr_mid', 'cr_leaf']::regclass[]) WITH ORDINALITY AS u(v, o)"),
	'success,success,success,success',
	'first refreshes');
$node->safe_psql(
	'postgres', q{
SELECT metrics_refresh_configure('cr_root', "cascade" => true);
SELECT metrics_refresh_schedule('cr_root', '0 0 31 2 *');
});

# What the views hold, in one line.
my $contents_sql = q{SELECT concat_ws('|',
    (SELECT total FROM cr_a), (SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM cr_root),
    (SELECT total FROM cr_mid), (SELECT double_total FROM cr_leaf))};
my $nothing_running_sql = "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'";
is($node->safe_psql('postgres', $contents_sql), '30|1:10,2:20|30|60', 'contents before the crashes');

# Wait until the server restarted after a crash of which the log shows,
# from offset on, the line for pid.
sub wait_for_restart
{
	my ($pid, $offset) = @_;
	$node->wait_for_log(qr/\(PID $pid\) was terminated by signal 9/, $offset);
	$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	ok($node->poll_query_until('postgres', 'SELECT true'), "the server is back after the death of PID $pid");
}

# SIGKILL pid, declared first.
sub kill9
{
	my ($pid, $what) = @_;
	append_to_file($node->logfile . '.expected-crashes', "$pid\n");
	my $offset = -s $node->logfile;
	is(kill('KILL', $pid), 1, "SIGKILL sent to $what $pid");
	wait_for_restart($pid, $offset);
}

# The first PID that the query returns, once it returns one.
sub pid_of
{
	my ($what, $sql) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($sql) p"), "$what is there");
	my ($pid) = split /\n/, $node->safe_psql('postgres', $sql);
	return $pid;
}

#
# A. kill -9 of a backend in the middle of metrics_refresh_run.
#
my $log_rows = $node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log');
$node->safe_psql('postgres',
	"UPDATE cr_knobs SET sleep_s = 300 WHERE view_name = 'cr_a'; UPDATE cr_src SET v = v + 1");
my ($out, $err) = ('', '');
my $caller = IPC::Run::start(
	[ 'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c', "SELECT metrics_refresh_run('cr_a')" ],
	'>', \$out, '2>', \$err);
my $backend = pid_of('the refreshing backend',
	"SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'client backend' AND wait_event = 'PgSleep'
	   AND query LIKE '%metrics_refresh_run(''cr_a'')%'");
kill9($backend, 'backend');
$caller->finish;
like($err, qr/server closed the connection unexpectedly|terminating connection/,
	'the killed caller lost its connection');
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'),
	$log_rows, 'A: the killed run left no log row (it was logged in its own transaction)');
is($node->safe_psql('postgres', $nothing_running_sql), '0', 'A: nothing is running');
is($node->safe_psql('postgres', $contents_sql), '30|1:10,2:20|30|60',
	'A: the views hold their last committed contents');
$node->safe_psql('postgres', "UPDATE cr_knobs SET sleep_s = 0 WHERE view_name = 'cr_a'");
is($node->safe_psql('postgres', "SELECT metrics_refresh_run('cr_a')->>'status'"),
	'success', 'A: the next run succeeds');
is($node->safe_psql('postgres', 'SELECT total FROM cr_a'), '32', 'A: and publishes the current data');

#
# B. kill -9 of a background worker waiting for a lock its view's query needs.
#
my $locker = IPC::Run::start(
	[
		'psql', '-X', '-At', '-d', $node->connstr('postgres'),
		'-c', 'BEGIN', '-c', 'LOCK TABLE cr_src IN ACCESS EXCLUSIVE MODE',
		'-c', "SELECT pg_sleep(300)"
	],
	'>', \$out, '2>', \$err);
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
		 WHERE c.relname = 'cr_src' AND l.mode = 'AccessExclusiveLock' AND l.granted"),
	'B: a session holds the source table');
my $run_b = $node->safe_psql('postgres',
	"SELECT metrics_refresh_trigger('cr_a', wait => false)->>'run_id'");
like($run_b, qr/^\d+$/, 'B: the background refresh started');
my $worker = pid_of('the worker waiting for the lock',
	"SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'metrics_refresh worker' AND wait_event_type = 'Lock'");
kill9($worker, 'worker');
$locker->finish;
is( $node->safe_psql(
		'postgres',
		"SELECT concat_ws('|', r->>'status', r->>'message', r->>'success', r->>'sqlstate')
		 FROM metrics_refresh_run_status($run_b) r"),
	'error|interrupted|false|57P01',
	'B: the killed worker\'s run is interrupted');
is( $node->safe_psql(
		'postgres',
		"SELECT concat_ws('|', status, error_message, sqlstate, finished_at IS NOT NULL)
		 FROM metrics_refresh_log WHERE id = $run_b"),
	'error|interrupted|57P01|t',
	'B: and corrected so in the log');
is($node->safe_psql('postgres', $nothing_running_sql), '0', 'B: nothing is running');
is($node->safe_psql('postgres', 'SELECT total FROM cr_a'), '32', 'B: the view kept its contents');
$node->safe_psql('postgres', 'UPDATE cr_src SET v = v + 1');
is($node->safe_psql('postgres', "SELECT metrics_refresh_trigger('cr_a')->>'status'"),
	'success', 'B: the next run succeeds');
is($node->safe_psql('postgres', 'SELECT total FROM cr_a'), '34', 'B: and publishes the current data');

#
# C. Immediate shutdown while a cascade's first view refreshes.
#
$node->safe_psql('postgres', 'SELECT metrics_refresh_cascade(\'cr_root\')');
my $before_c = $node->safe_psql('postgres', $contents_sql);
is($before_c, '34|1:12,2:22|34|68', 'C: contents before');
$node->safe_psql('postgres',
	"UPDATE cr_knobs SET sleep_s = 300 WHERE view_name = 'cr_root'; UPDATE cr_src SET v = v + 100");
my ($run_c, $started_c) = split /\|/, $node->safe_psql('postgres',
	"SELECT r->>'run_id', r->>'status' FROM metrics_refresh_cascade('cr_root', wait => false) r");
like($run_c, qr/^\d+$/, 'C: the cascade started');
is($started_c, 'running', 'C: the cascade\'s answer says running');
pid_of('the cascade\'s worker in the first view\'s query',
	"SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'metrics_refresh worker' AND wait_event = 'PgSleep'");
$node->stop('immediate');
$node->start;
is( $node->safe_psql(
		'postgres',
		"SELECT concat_ws('|', r->>'status', r->>'message', r->>'sqlstate')
		 FROM metrics_refresh_run_status($run_c) r"),
	'error|interrupted|57P01',
	'C: the cascade\'s first run is interrupted');
is($node->safe_psql('postgres', "SELECT count(*) FROM metrics_refresh_log WHERE cascade_id = $run_c"),
	'1', 'C: no dependent was logged');
is($node->safe_psql('postgres', $nothing_running_sql), '0', 'C: nothing is running');
is($node->safe_psql('postgres', $contents_sql), $before_c, 'C: the views hold their last committed contents');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'"),
	'C: pg_cron is back');
$node->safe_psql('postgres', "UPDATE cr_knobs SET sleep_s = 0 WHERE view_name = 'cr_root'");
my $command = $node->safe_psql('postgres',
	"SELECT command FROM cron.job WHERE jobname = 'metrics_refresh public.cr_root'");
like($command, qr/metrics_refresh_job/, 'C: the job survived the crash');
my $job_result = $node->safe_psql('postgres', "SELECT r->>'status' || '|' || (r->'counts') FROM ($command) AS j(r)");
is($job_result, 'success|{"success": 3}', 'C: the next scheduled run (the job\'s command) runs the cascade');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(source || ':' || status, ',' ORDER BY id) FROM metrics_refresh_log
		 WHERE cascade_id = (SELECT max(cascade_id) FROM metrics_refresh_log)"),
	'scheduled:success,cascade:success,cascade:success',
	'C: logged as scheduled, then its dependents as cascade runs');
is($node->safe_psql('postgres', $contents_sql), '34|1:112,2:122|234|468',
	'C: and publishes the current data');

#
# D. Immediate shutdown while a cascade refreshes a dependent.
#
$node->safe_psql('postgres',
	"UPDATE cr_knobs SET sleep_s = 300 WHERE view_name = 'cr_mid'; UPDATE cr_src SET v = v + 1000");
my $run_d = $node->safe_psql('postgres',
	"SELECT metrics_refresh_cascade('cr_root', wait => false)->>'run_id'");
pid_of('the cascade\'s worker in the dependent\'s query',
	"SELECT pid FROM pg_stat_activity
	 WHERE backend_type = 'metrics_refresh worker' AND wait_event = 'PgSleep'
	   AND query LIKE '%: public.cr_mid'");
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', "SELECT count(metrics_refresh_run_status(id)) FROM metrics_refresh_log"),
	$node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'), 'D: every run reports a status');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(view_name || ':' || status, ',' ORDER BY id) FROM metrics_refresh_log
		 WHERE cascade_id = $run_d AND view_name = 'public.cr_root'"),
	'public.cr_root:success',
	'D: the first view\'s run, committed before the shutdown, stays');
note('D: rows of the interrupted dependent: '
	  . $node->safe_psql('postgres',
		"SELECT count(*) FROM metrics_refresh_log WHERE cascade_id = $run_d AND view_name <> 'public.cr_root'"));
is($node->safe_psql('postgres', $nothing_running_sql), '0', 'D: nothing is running');
is($node->safe_psql('postgres', $contents_sql), '34|1:1112,2:1122|234|468',
	'D: the first view is refreshed, its dependents hold their last committed contents');
$node->safe_psql('postgres', "UPDATE cr_knobs SET sleep_s = 0 WHERE view_name = 'cr_mid'");
is($node->safe_psql('postgres', "SELECT metrics_refresh_cascade('cr_root')->>'status'"),
	'success', 'D: the next cascade succeeds');
is($node->safe_psql('postgres', $contents_sql), '34|1:1112,2:1122|2234|4468',
	'D: and publishes the current data');

$node->stop;
done_testing();
