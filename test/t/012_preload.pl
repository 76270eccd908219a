# The library preloaded with shared_preload_libraries, as README suggests
# for servers that run pg_cron (pg_cron itself is not needed here): _PG_init runs once in the postmaster, and
# every backend and background worker starts with the library loaded (no
# loading cost in each pg_cron job's new session).  Without a call, a new
# session has the settings defined, with the values of postgresql.conf;
# reserved names are refused; a run, a background run in its worker, a
# cascade, and an unchanged run of a tracked view behave as without
# preloading; the statistics count them.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'metrics_refresh'
max_worker_processes = 20
metrics_refresh.lock_timeout = '4321ms'
metrics_refresh.log_retention = '7d'
lc_messages = 'C'
});
$node->start;

# Before any function of the extension is called, and before it is created.
is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings
WHERE name IN ('metrics_refresh.lock_timeout', 'metrics_refresh.log_retention')}),
	'metrics_refresh.lock_timeout=4321 metrics_refresh.log_retention=10080',
	'a new session has the settings of postgresql.conf without loading anything');
my ($rc, $out, $err) = $node->psql('postgres', "SET metrics_refresh.no_such_setting = 1");
like($err, qr/invalid configuration parameter name/, 'the prefix is reserved');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE pl_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO pl_src SELECT g, g FROM generate_series(1, 10) g;
CREATE MATERIALIZED VIEW pl_mv AS SELECT id, v FROM pl_src;
CREATE UNIQUE INDEX ON pl_mv (id);
CREATE MATERIALIZED VIEW pl_dep AS SELECT id, v * 2 AS w FROM pl_mv;
CREATE UNIQUE INDEX ON pl_dep (id);
});

is($node->safe_psql('postgres', "SELECT metrics_refresh_run('pl_mv')->>'status'"),
	'success', 'a run');

# A background run: its worker starts with the library loaded too.
my $run_id = $node->safe_psql('postgres',
	"SELECT metrics_refresh_trigger('pl_mv', wait => false)->>'run_id'");
like($run_id, qr/^\d+$/, 'a background run is started');
ok( $node->poll_query_until(
		'postgres',
		"SELECT metrics_refresh_run_status($run_id)->>'status' <> 'running'"),
	'the background run ends');
is( $node->safe_psql('postgres', "SELECT metrics_refresh_run_status($run_id)->>'status'"),
	'success', 'the background run succeeded');

my $cascade_id = $node->safe_psql('postgres', "SELECT metrics_refresh_cascade('pl_mv')->>'cascade_id'");
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(view_name || ':' || status, ' ' ORDER BY id) FROM metrics_refresh_log WHERE cascade_id = $cascade_id"
	),
	'public.pl_mv:success public.pl_dep:success',
	'a cascade, in its worker');

# skip_unchanged: the second run of a new session finds nothing changed.
$node->safe_psql('postgres', "SELECT metrics_refresh_configure('pl_mv', skip_unchanged => true)");
is($node->safe_psql('postgres', "SELECT metrics_refresh_job('pl_mv')->>'status'"),
	'success', 'a tracked view is refreshed once');
is($node->safe_psql('postgres', "SELECT metrics_refresh_job('pl_mv')->>'status'"),
	'unchanged', 'then unchanged, in a new session');
$node->safe_psql('postgres', "UPDATE pl_src SET v = v + 1 WHERE id = 1");
is($node->safe_psql('postgres', "SELECT metrics_refresh_job('pl_mv')->>'status'"),
	'success', 'and refreshed after a change');

is( $node->safe_psql(
		'postgres', q{
SELECT s.successful || '/' || s.unchanged || ' ' ||
       (SELECT count(*) FILTER (WHERE status = 'success') || '/' || count(*) FILTER (WHERE status = 'unchanged')
        FROM metrics_refresh_log WHERE view_name = 'public.pl_mv')
FROM metrics_refresh_stats s WHERE s.view_name = 'public.pl_mv'}),
	'5/1 5/1',
	'the statistics count what the log holds');

$node->stop;
done_testing();
