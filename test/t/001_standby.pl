# Hot standby: the functions that change something refuse with SQLSTATE 25006
# and a hint pointing to the primary, and change nothing; the monitoring
# functions answer on the standby with the rows replicated from the primary.
#
# A primary (pg_cron preloaded, for the schedule replicated to the standby)
# gets the extension, a view with a unique index, one without, and a few log
# rows; a standby is made from a base backup, one more run happens on the
# primary after it, and the checks start once the standby has replayed it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'pg_cron is not installed'
  unless -f "$sharedir/extension/pg_cron.control";

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
lc_messages = 'C'
});
$primary->start;

$primary->safe_psql(
	'postgres', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
CREATE SCHEMA sb_app;
CREATE TABLE sb_app.accounts (id int PRIMARY KEY);
INSERT INTO sb_app.accounts SELECT generate_series(1, 3);
CREATE MATERIALIZED VIEW sb_app.metrics AS SELECT 1 AS id, count(*) AS accounts FROM sb_app.accounts;
CREATE UNIQUE INDEX ON sb_app.metrics (id);
CREATE MATERIALIZED VIEW sb_app.noindex AS SELECT 1 AS id;
ALTER DATABASE postgres SET metrics_refresh.platform_view = 'sb_app.metrics';
});
$primary->safe_psql(
	'postgres', q{
SELECT metrics_refresh_run('sb_app.metrics');
SELECT metrics_refresh_run('sb_app.metrics', 'scheduled');
SELECT metrics_refresh_run('sb_app.noindex');
INSERT INTO sb_app.accounts VALUES (4);
SELECT metrics_refresh_trigger('sb_app.metrics');
SELECT metrics_refresh_schedule('sb_app.metrics', '0 0 31 2 *');
});
is($primary->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'),
	'4', 'log rows on the primary');

$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');

# One more run on the primary after the base backup, so that replay matters.
$primary->safe_psql('postgres', "SELECT metrics_refresh_run('sb_app.metrics')");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'),
	'5', 'log rows on the standby');

# A statement that fails on the standby: its SQLSTATE, message and hint.
sub error_of
{
	my ($node, $sql) = @_;
	my ($stdout, $stderr) = ('', '');
	$node->psql(
		'postgres', "$sql;\n\\echo :LAST_ERROR_SQLSTATE",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 0);
	# (psql prefixes the first line with "psql:<stdin>:1: ".)
	my ($message) = $stderr =~ /^(?:psql:\S+ )?ERROR:  (.*)$/m;
	my ($hint) = $stderr =~ /^HINT:  (.*)$/m;
	return ($stdout, $message // 'no error', $hint // '');
}

#
# Every function that changes something refuses with 25006, and says where
# to go instead.
#
my $state_sql =
  "SELECT count(*), max(id), (SELECT accounts FROM sb_app.metrics) FROM metrics_refresh_log";
my $before = $standby->safe_psql('postgres', $state_sql);
my @refusals = (
	[ "SELECT metrics_refresh_run('sb_app.metrics')", 'refresh a materialized view' ],
	[ "SELECT metrics_refresh_run('sb_app.metrics', 'scheduled')", 'refresh a materialized view' ],
	[ "SELECT metrics_refresh_trigger('sb_app.metrics')", 'refresh a materialized view' ],
	[ "SELECT metrics_refresh_trigger('sb_app.metrics', wait => true)", 'refresh a materialized view' ],
	[ "SELECT metrics_refresh_trigger('sb_app.metrics', wait => false)", 'refresh a materialized view' ],
	[ "SELECT trigger_platform_metrics_refresh()", 'refresh a materialized view' ],
	[ "SELECT trigger_platform_metrics_refresh(false)", 'refresh a materialized view' ],
	[ "SELECT refresh_platform_metrics()", 'refresh a materialized view' ],
	[ "SELECT refresh_platform_metrics_with_logging()", 'refresh a materialized view' ],
	[ "SELECT metrics_refresh_schedule('sb_app.metrics')", 'schedule a refresh' ],
	[ "SELECT metrics_refresh_unschedule('sb_app.metrics')", 'unschedule a refresh' ],
	[ "SELECT metrics_refresh_prune('1 day')", 'prune the metrics_refresh log' ]);
foreach my $r (@refusals)
{
	my ($sql, $what) = @$r;
	my ($sqlstate, $message, $hint) = error_of($standby, $sql);
	is("$sqlstate: $message", "25006: cannot $what during recovery", "$sql refuses");
	like($hint, qr/primary/, "$sql: the hint points to the primary");
}
is($standby->safe_psql('postgres', $state_sql), $before, 'nothing changed on the standby');
is( $standby->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE '%metrics_refresh%'"),
	'0',
	'no background worker on the standby');
is($standby->safe_psql('postgres', 'SELECT metrics_refresh_is_admin()'),
	't', 'is_admin on the standby');

#
# Monitoring answers on the standby, with the primary's rows.
#
# Each query is asked of both servers: the standby's answer must be the
# primary's, and, where given, the expected value.
sub same_on_both
{
	my ($what, $sql, $expected) = @_;
	my $on_standby = $standby->safe_psql('postgres', $sql);
	is($on_standby, $primary->safe_psql('postgres', $sql),
		"$what: the standby answers as the primary");
	is($on_standby, $expected, "$what on the standby") if defined $expected;
	return $on_standby;
}

my $status = same_on_both(
	'status', q{
SELECT concat_ws('|', r->>'view', r->>'status', r->>'last_status', r->>'total',
    r->>'successful', r->>'failed', r->>'skipped', r->>'success_rate', r->>'last_refresh_at',
    r->>'last_success_at', r->>'avg_duration_ms', r->>'max_duration_ms')
FROM metrics_refresh_status('sb_app.metrics') r});
is(join('|', (split /\|/, $status)[ 0 .. 7 ]),
	'sb_app.metrics|healthy|success|4|4|0|0|100.0', 'status counts on the standby');
same_on_both(
	'status of the failing view',
	q{SELECT concat_ws('|', r->>'status', r->>'failed', r->>'last_error')
	  FROM metrics_refresh_status('sb_app.noindex') r},
	'failing|1|materialized view "sb_app.noindex" has no usable unique index');
same_on_both(
	'timeline',
	q{SELECT count(*) || '|' || sum(runs) || '|' || sum(successes) || '|' || sum(failures)
	  FROM metrics_refresh_timeline('sb_app.metrics')},
	'25|4|4|0');
same_on_both(
	'history',
	q{SELECT string_agg(id || ':' || view_name || ':' || status || ':' || source, ',' ORDER BY id)
	  FROM metrics_refresh_history(NULL, 100)});
same_on_both('history rows', 'SELECT count(*) FROM metrics_refresh_history()', '5');
same_on_both('history of one view',
	"SELECT count(*) FROM metrics_refresh_history('sb_app.metrics')", '4');

my $last_id = $primary->safe_psql('postgres', 'SELECT max(id) FROM metrics_refresh_log');
same_on_both('run_status', "SELECT metrics_refresh_run_status($last_id)");
same_on_both('run_status, status and view',
	"SELECT r->>'status' || '|' || (r->>'view') FROM metrics_refresh_run_status($last_id) r",
	'success|sb_app.metrics');
same_on_both('run_status of an unknown run',
	"SELECT metrics_refresh_run_status($last_id + 1000) IS NULL", 't');

same_on_both(
	'overview',
	q{SELECT string_agg(view_name || ':' || status || ':' || total, ',' ORDER BY view_name)
	  FROM metrics_refresh_overview},
	'sb_app.metrics:healthy:4,sb_app.noindex:failing:1');
same_on_both('schedule', "SELECT view_name || '|' || schedule FROM metrics_refresh_config",
	'sb_app.metrics|0 0 31 2 *');
like(
	$standby->safe_psql('postgres', "SELECT metrics_refresh_dashboard('sb_app.metrics')"),
	qr/Metrics Refresh Monitor.*sb_app\.metrics/s,
	'the dashboard answers on the standby');

#
# A background run still running on the primary is running on the standby
# too: the standby cannot see the primary's run lock, so it must not call
# the run interrupted.  Then its outcome is replayed.
#
$primary->safe_psql(
	'postgres', q{
CREATE TABLE sb_app.naptime (s float8);
INSERT INTO sb_app.naptime VALUES (0);
CREATE FUNCTION sb_app.nap() RETURNS int LANGUAGE sql
    AS 'SELECT 1 FROM pg_sleep((SELECT s FROM sb_app.naptime))';
CREATE MATERIALIZED VIEW sb_app.slow AS SELECT sb_app.nap() AS id;
CREATE UNIQUE INDEX ON sb_app.slow (id);
UPDATE sb_app.naptime SET s = 8;
});
my $slow_id = $primary->safe_psql('postgres',
	"SELECT metrics_refresh_trigger('sb_app.slow', wait => false)->>'run_id'");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is( $standby->safe_psql(
		'postgres', "SELECT metrics_refresh_run_status($slow_id)->>'status'"),
	'running',
	'a run in progress on the primary is running on the standby');
ok( $primary->poll_query_until(
		'postgres', "SELECT metrics_refresh_run_status($slow_id)->>'status' = 'success'"),
	'the run succeeds on the primary');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is( $standby->safe_psql(
		'postgres', "SELECT metrics_refresh_run_status($slow_id)->>'status'"),
	'success',
	'its outcome on the standby');

done_testing();
