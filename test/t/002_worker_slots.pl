# No free background worker slot: metrics_refresh_trigger(view, wait =>
# false) raises 53400 with a hint about max_worker_processes and leaves
# nothing 'running'; a refresh that waits needs no worker and still works;
# once a slot is free again, background refreshes start again.
#
# A server with max_worker_processes = 4 (the logical replication launcher
# takes one) gets four views whose query sleeps; slow background refreshes
# fill the free slots until a call fails.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('slots');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
max_worker_processes = 4
lc_messages = 'C'
});
$node->start;
is($node->safe_psql('postgres', 'SHOW max_worker_processes'), '4', 'max_worker_processes');

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE slots_knobs (sleep_s float8 NOT NULL);
INSERT INTO slots_knobs VALUES (0);
CREATE FUNCTION slots_slow() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.pg_sleep((SELECT sleep_s FROM public.slots_knobs));
    RETURN 1;
END $$;
});
foreach my $i (1 .. 4)
{
	$node->safe_psql('postgres',
		"CREATE MATERIALIZED VIEW slots_v$i AS SELECT $i AS id, slots_slow() AS x;
		 CREATE UNIQUE INDEX ON slots_v$i (id);");
}
$node->safe_psql('postgres', 'UPDATE slots_knobs SET sleep_s = 6');

# Run a statement returning one value: (value, '') or ('', "SQLSTATE|message|hint").
sub try_sql
{
	my ($sql) = @_;
	my ($stdout, $stderr) = ('', '');
	my $rc = $node->psql(
		'postgres', "$sql;\n\\if :ERROR\n\\echo :LAST_ERROR_SQLSTATE\n\\endif",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 0);
	return ($stdout, '') unless $stderr =~ /ERROR:  /;
	# (psql prefixes the first line with "psql:<stdin>:1: ".)
	my ($message) = $stderr =~ /^(?:psql:\S+ )?ERROR:  (.*)$/m;
	my ($hint) = $stderr =~ /^HINT:  (.*)$/m;
	return ('', join('|', $stdout, $message, $hint // ''));
}

my $running_sql = "SELECT count(*) FROM metrics_refresh_log WHERE status = 'running'";
my $workers_sql =
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'";

# Fill the free slots: one slow refresh per view until a call fails.
my $started = 0;
my $failure = '';
foreach my $i (1 .. 4)
{
	my ($status, $error) =
	  try_sql("SELECT metrics_refresh_trigger('slots_v$i', wait => false)->>'status'");
	if ($status eq 'running')
	{
		$started++;
		next;
	}
	$failure = $error;
	last;
}
note "background refreshes started before the slots ran out: $started";
cmp_ok($started, '>=', 1, 'at least one background refresh started');
my ($sqlstate, $message, $hint) = split /\|/, $failure, 3;
is($sqlstate, '53400', 'SQLSTATE when no slot is free');
note "message: $message";
like($hint, qr/max_worker_processes/, 'the hint mentions max_worker_processes');

# The failed call left nothing running: one 'running' row per started worker.
is($node->safe_psql('postgres', $running_sql), $started, "'running' rows after the failure");
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log'),
	$started, 'log rows after the failure');
is($node->safe_psql('postgres', $workers_sql), $started, 'workers after the failure');

# trigger_platform_metrics_refresh(wait => false) fails the same way.
my (undef, $platform_failure) = try_sql(
	"SET metrics_refresh.platform_view = 'public.slots_v4';
	 SELECT trigger_platform_metrics_refresh(wait => false)->>'status'");
is((split /\|/, $platform_failure)[0],
	'53400', 'SQLSTATE of the platform trigger when no slot is free');
is($node->safe_psql('postgres', $running_sql),
	$started, "'running' rows after the platform failure");

# So does a cascade, whose hint does not offer wait => true (a cascade
# always runs in a worker).
my (undef, $cascade_failure) = try_sql("SELECT metrics_refresh_cascade('slots_v4')->>'status'");
my ($cascade_state, undef, $cascade_hint) = split /\|/, $cascade_failure, 3;
is($cascade_state, '53400', 'SQLSTATE of a cascade when no slot is free');
is( $cascade_hint,
	'Raise max_worker_processes (now 4): a cascade runs in a background worker.',
	'the hint of a cascade when no slot is free');

# Waiting refreshes need no worker and still work.
is( $node->safe_psql(
		'postgres',
		"UPDATE slots_knobs SET sleep_s = 0;
		 SELECT metrics_refresh_trigger('slots_v4')->>'status'"),
	'success',
	'a waiting refresh while the slots are full');

# The slow runs end as successes, their workers exit; then a background
# refresh starts again.
my $still_running_sql = "SELECT count(*) = 0 FROM metrics_refresh_log
  WHERE status = 'running' AND metrics_refresh_run_status(id)->>'status' = 'running'";
ok($node->poll_query_until('postgres', $still_running_sql), 'the slow runs ended');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM metrics_refresh_log WHERE status = 'success' AND view_name <> 'public.slots_v4'"
	),
	$started,
	'successes of the slow runs');
ok($node->poll_query_until('postgres', "SELECT ($workers_sql) = 0"),
	'no worker once the runs ended');
is( $node->safe_psql(
		'postgres', "SELECT metrics_refresh_trigger('slots_v4', wait => false)->>'status'"),
	'running',
	'a background refresh once a slot is free');
ok($node->poll_query_until('postgres', $still_running_sql), 'that run ended');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(DISTINCT status, ',') || '|' || count(*) FROM metrics_refresh_log"),
	'success|' . ($started + 2),
	'final statuses');

$node->stop;
done_testing();
