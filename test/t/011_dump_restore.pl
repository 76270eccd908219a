# pg_dump -Fc / pg_restore of a database that uses metrics_refresh, onto a
# new server: the log, the configuration (options of metrics_refresh_configure
# and a schedule with its pg_cron job), the statistics and the change
# tracking state come back row for row, with no duplicate rows; refreshes,
# cascades and statistics work afterwards; and a skip_unchanged view still
# decides correctly: a change made before the dump that no refresh saw is
# refreshed, then "unchanged" while nothing changes, then refreshed after an
# INSERT into its source (the tracking trigger came back).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'pg_cron is not installed'
  unless -f "$sharedir/extension/pg_cron.control";

# A server whose pg_cron serves database "app" (created before pg_cron's
# launcher starts).
sub new_server
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "lc_messages = 'C'\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE DATABASE app');
	$node->append_conf(
		'postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'app'
cron.use_background_workers = on
max_worker_processes = 20
});
	$node->restart;
	return $node;
}

my $source = new_server('source');
$source->safe_psql(
	'app', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh;
CREATE SCHEMA shop;
CREATE TABLE shop.accounts (id int PRIMARY KEY);
INSERT INTO shop.accounts SELECT generate_series(1, 3);
CREATE TABLE shop.orders (id int PRIMARY KEY, amount numeric NOT NULL);
INSERT INTO shop.orders VALUES (1, 10), (2, 32);
-- skip_unchanged
CREATE MATERIALIZED VIEW shop.totals AS SELECT 1 AS id, count(*) AS accounts FROM shop.accounts;
CREATE UNIQUE INDEX ON shop.totals (id);
-- a cascade: daily reads revenue
CREATE MATERIALIZED VIEW shop.revenue AS SELECT 1 AS id, sum(amount) AS total FROM shop.orders;
CREATE UNIQUE INDEX ON shop.revenue (id);
CREATE MATERIALIZED VIEW shop.daily AS SELECT id, total * 2 AS doubled FROM shop.revenue;
CREATE UNIQUE INDEX ON shop.daily (id);
-- a failing view
CREATE MATERIALIZED VIEW shop.no_index AS SELECT 1 AS id;
});
$source->safe_psql(
	'app', q{
SELECT metrics_refresh_configure('shop.totals', skip_unchanged => true, max_skip => '2 hours');
SELECT metrics_refresh_configure('shop.revenue', "cascade" => true, stale_after => '30 minutes');
SELECT metrics_refresh_schedule('shop.daily', '0 0 31 2 *', '1 hour');
});
# Runs of every kind: success, unchanged, error, cascade; and, first, a
# run logged hours ago (of a view since dropped) in the second hour of a
# 6-hour block, so that both rollups have rows whatever the hour now (runs
# in a block's first hour have no hourly row: src/stats.c).
$source->safe_psql(
	'app', q{
INSERT INTO metrics_refresh_log (view_name, started_at, finished_at, duration_ms, status, method,
                                 source, triggered_by)
SELECT 'shop.gone', t, t + interval '20 ms', 20, 'success', 'concurrently', 'scheduled', current_user
FROM (SELECT date_bin('6 hours', now(), '2001-01-01 00:00:00+00') - interval '4 hours 30 minutes' AS t) x;
SELECT metrics_refresh_run('shop.totals');
SELECT metrics_refresh_run('shop.totals');
SELECT metrics_refresh_run('shop.no_index');
SELECT metrics_refresh_cascade('shop.revenue');
SELECT metrics_refresh_trigger('shop.daily');
});
# Count these runs into the statistics now (pruning does so before it
# deletes: it deletes nothing here), so that the counters and the rollups
# have rows; a change to a tracked source that no refresh has seen
# yet is pending when the dump is made.
is($source->safe_psql('app', "SELECT metrics_refresh_prune('100 years')"), '0', 'nothing pruned');
$source->safe_psql('app', 'INSERT INTO shop.accounts VALUES (4)');

is( $source->safe_psql(
		'app', q{SELECT string_agg(status || ':' || source, ',' ORDER BY id) FROM metrics_refresh_log}),
	'success:scheduled,success:manual,unchanged:manual,error:manual,success:manual,success:cascade,success:manual',
	'the runs logged before the dump');

# The extension's tables, each as sorted rows of text (regclass columns as
# names), and how many of its rows are distinct.
my @tables = qw(metrics_refresh_log metrics_refresh_config metrics_refresh_tracking
  metrics_refresh_sources metrics_refresh_changes metrics_refresh_counters
  metrics_refresh_hourly metrics_refresh_6hourly);

sub table_rows
{
	my ($node, $table) = @_;
	return $node->safe_psql('app',
		"SELECT count(*) || ' rows, ' || count(DISTINCT t::text) || ' distinct' || E'\\n'"
		  . " || coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM $table t");
}

my %before;
foreach my $table (@tables)
{
	$before{$table} = table_rows($source, $table);
	note("$table before the dump: $before{$table}");
}
# Every table has rows to lose or duplicate.
foreach my $table (@tables)
{
	my ($rows, $distinct) = $before{$table} =~ /^(\d+) rows, (\d+) distinct/;
	ok($rows > 0 && $rows == $distinct, "$table has rows before the dump ($rows)");
}

my $stats_sql = q{
SELECT string_agg(concat_ws('|', view_name, successful, failed, skipped, unchanged,
                            total_duration_ms, min_duration_ms, max_duration_ms,
                            duration_le_10ms, duration_le_inf, last_run_at, last_status,
                            last_success_at, fresh_as_of, last_error_at, last_error,
                            stats_reset), E'\n' ORDER BY view_name)
FROM metrics_refresh_stats};
my $overview_sql = q{
SELECT string_agg(concat_ws('|', view_name, total, successful, failed, skipped, unchanged,
                            last_refresh_at, last_success_at), E'\n' ORDER BY view_name)
FROM metrics_refresh_overview};
my $jobs_sql = q{
SELECT string_agg(concat_ws('|', j.jobid, j.jobname, j.schedule, j.command, j.username, j.active),
                  E'\n' ORDER BY j.jobid)
FROM cron.job j JOIN metrics_refresh_config c ON c.jobid = j.jobid};
my $stats_before = $source->safe_psql('app', $stats_sql);
my $overview_before = $source->safe_psql('app', $overview_sql);
my $jobs_before = $source->safe_psql('app', $jobs_sql);
like($jobs_before, qr/^\d+\|metrics_refresh shop\.daily\|0 0 31 2 \*\|/, 'the schedule has its pg_cron job');
# Reading the statistics wrote nothing.
is(table_rows($source, $_), $before{$_}, "$_ unchanged by reading the statistics") foreach @tables;

#
# Dump, and restore onto a new server.
#
my $dump = $PostgreSQL::Test::Utils::tmp_check . '/app.dump';
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ 'pg_dump', '-Fc', '-f', $dump, '-d', $source->connstr('app') ],
	'>', \$out, '2>', \$err);
ok($ok, 'pg_dump -Fc') or diag($err);
is($err, '', 'pg_dump says nothing');

my $target = new_server('target');
($out, $err) = ('', '');
$ok = IPC::Run::run([ 'pg_restore', '-d', $target->connstr('app'), $dump ],
	'>', \$out, '2>', \$err);
ok($ok, 'pg_restore') or diag($err);
is($err, '', 'pg_restore says nothing (no error, no warning)');

foreach my $table (@tables)
{
	my $after = table_rows($target, $table);
	my ($rows, $distinct) = $after =~ /^(\d+) rows, (\d+) distinct/;
	is($rows, $distinct, "$table: no duplicate rows after the restore");
	is($after, $before{$table}, "$table: restored row for row");
}
is($target->safe_psql('app', $stats_sql), $stats_before, 'statistics restored');
is($target->safe_psql('app', $overview_sql), $overview_before, 'overview restored');
is($target->safe_psql('app', $jobs_sql), $jobs_before, 'the pg_cron job of the schedule restored');
is( $target->safe_psql('app',
		q{SELECT string_agg(tgrelid::regclass || ' ' || tgname, ',') FROM pg_trigger
		  WHERE tgfoid = 'metrics_refresh_track()'::regprocedure}),
	$source->safe_psql('app',
		q{SELECT string_agg(tgrelid::regclass || ' ' || tgname, ',') FROM pg_trigger
		  WHERE tgfoid = 'metrics_refresh_track()'::regprocedure}),
	'the tracking triggers on the sources are restored');

#
# Refreshes after the restore.
#
my $max_id = $target->safe_psql('app', 'SELECT max(id) FROM metrics_refresh_log');

# One run of a view: "status id".
sub run
{
	my ($view) = @_;
	return $target->safe_psql('app',
		"SELECT r->>'status' || ' ' || (r->>'run_id') FROM metrics_refresh_run('$view') r");
}

my ($status, $id) = split / /, run('shop.totals');
is($status, 'success', 'skip_unchanged: the change made before the dump is refreshed');
cmp_ok($id, '>', $max_id, 'new runs get ids after the restored ones');
is($target->safe_psql('app', 'SELECT accounts FROM shop.totals'), '4', 'the view has the change');
is((split / /, run('shop.totals'))[0], 'unchanged', 'skip_unchanged: nothing changed, nothing refreshed');
$target->safe_psql('app', 'INSERT INTO shop.accounts VALUES (5)');
is((split / /, run('shop.totals'))[0], 'success', 'skip_unchanged: an INSERT into the source is refreshed');
is($target->safe_psql('app', 'SELECT accounts FROM shop.totals'), '5', 'the view has the INSERT');
is((split / /, run('shop.totals'))[0], 'unchanged', 'skip_unchanged: and then unchanged again');

$target->safe_psql('app', 'INSERT INTO shop.orders VALUES (3, 100)');
is( $target->safe_psql('app',
		q{SELECT concat_ws('|', r->>'status', r->'counts'->>'success', jsonb_array_length(r->'run_ids'))
		  FROM metrics_refresh_cascade('shop.revenue') r}),
	'success|2|2',
	'a cascade after the restore refreshes the view and its dependent');
is($target->safe_psql('app', 'SELECT doubled FROM shop.daily'), '284', 'the dependent has the new order');
is((split / /, run('shop.no_index'))[0], 'error', 'a failing view still fails');

is( $target->safe_psql('app',
		q{SELECT string_agg(concat_ws('|', view_name, successful, failed, skipped, unchanged), E'\n' ORDER BY view_name)
		  FROM metrics_refresh_stats}),
	"shop.daily|3|0|0|0\nshop.gone|1|0|0|0\nshop.no_index|0|2|0|0\nshop.revenue|2|0|0|0\nshop.totals|3|0|0|3",
	'statistics go on from the restored counts');
is( $target->safe_psql('app',
		q{SELECT count(*) || '/' || count(DISTINCT id) FROM metrics_refresh_log}),
	'14/14', 'the log goes on, without duplicates');

$source->stop;
$target->stop;
done_testing();
