# Which way log rows are written: straight into the heap while the log is
# the table the install script made (src/log.c, insert_direct), through the
# INSERT statement otherwise.  pg_stat_statements, tracking nested
# statements too, counts the extension's INSERTs into the log: none for runs,
# a background run's 'running' row (written by its worker) and a cascade, in
# a fresh installation and in one updated from 1.0.0; some once a column of
# the log has another type; none again, in the same session, once the
# column is back (the relcache callback makes the session look again).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('direct_log');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
max_worker_processes = 8
lc_messages = 'C'
});
$node->start;

my $setup = q{
CREATE EXTENSION pg_stat_statements;
CREATE TABLE dl_t (id int PRIMARY KEY);
INSERT INTO dl_t VALUES (1);
CREATE MATERIALIZED VIEW dl_v AS SELECT id FROM dl_t;
CREATE UNIQUE INDEX ON dl_v (id);
CREATE MATERIALIZED VIEW dl_dep AS SELECT id FROM dl_v;
CREATE UNIQUE INDEX ON dl_dep (id);
};
$node->safe_psql('postgres', "CREATE DATABASE upgraded");
$node->safe_psql('postgres', "CREATE EXTENSION metrics_refresh; $setup");
$node->safe_psql('upgraded',
	"CREATE EXTENSION metrics_refresh VERSION '1.0.0'; ALTER EXTENSION metrics_refresh UPDATE; $setup");

# The INSERT statements into the log that ran since the last reset.
my $inserts = q{SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
	WHERE query LIKE 'INSERT INTO %metrics_refresh_log%'};

for my $db ('postgres', 'upgraded')
{
	my $out = $node->safe_psql(
		$db, qq{
SELECT pg_stat_statements_reset() IS NOT NULL;
SELECT metrics_refresh_run('dl_v')->>'status';
SELECT metrics_refresh_trigger('dl_v', wait => false)->>'status';
});
	is($out, "t\nsuccess\nrunning", "$db: a run, a background run");
	# The cascade after the background run, which would make it skip.
	$node->poll_query_until($db,
		q{SELECT count(*) = 0 FROM metrics_refresh_log WHERE status = 'running'})
	  or die 'the background run did not finish';
	is($node->safe_psql($db, q{SELECT metrics_refresh_cascade('dl_v')->>'status'}),
		'success', "$db: a cascade");
	is($node->safe_psql($db, q{SELECT count(*) FROM metrics_refresh_log}),
		'4', "$db: four rows (the cascade's two)");
	is($node->safe_psql($db, $inserts), '0', "$db: none through the INSERT statement");
}

my $out = $node->safe_psql(
	'postgres', qq{
SELECT pg_stat_statements_reset() IS NOT NULL;
ALTER TABLE metrics_refresh_log ALTER COLUMN cascade_id TYPE numeric;
SELECT metrics_refresh_run('dl_v')->>'status';
$inserts;
ALTER TABLE metrics_refresh_log ALTER COLUMN cascade_id TYPE bigint;
SELECT pg_stat_statements_reset() IS NOT NULL;
SELECT metrics_refresh_run('dl_v')->>'status';
$inserts;
});
is( $out, "t\nsuccess\n1\nt\nsuccess\n0",
	'a column of another type: the statement; back to bigint: directly again, in the same session'
);

$node->stop;
done_testing();
