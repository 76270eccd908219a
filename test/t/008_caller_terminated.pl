# A caller of metrics_refresh_trigger(view, wait => false) that is
# terminated (pg_terminate_backend, as for a lost HTTP client with
# client_connection_check_interval) while its worker waits to record the
# run: the worker is stopped on the caller's way out, so the view is not
# refreshed and nothing is logged.
#
# Another session holds the log in SHARE mode, so the worker cannot insert
# its 'running' row; the caller waits for it in metrics_refresh_trigger.
# Then the other way round: a cascade's worker terminated while its caller
# waits.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

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

# A psql session fed through its standard input.
sub session
{
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return \%s;
}

my $holder = session();
$holder->{in} .= "BEGIN;\nLOCK metrics_refresh_log IN SHARE MODE;\nSELECT 'locked';\n";
$holder->{h}->pump until $holder->{out} =~ /locked/;

my $caller = session();
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
my $waiter = session();
$waiter->{in} .= "SELECT metrics_refresh_run('ct_v')->>'status';
";
$waiter->{h}->pump until $waiter->{out} =~ /\n/ || $waiter->{err} ne '';
is($waiter->{out} . $waiter->{err}, "success\n", 'the caller has run the view before');
$holder = session();
$holder->{in} .= "BEGIN;\nLOCK metrics_refresh_config IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n";
$holder->{h}->pump until $holder->{out} =~ /locked/;
$waiter->{out} = '';
$waiter->{in} .=
  "SELECT r->>'status', r->>'success', r->>'counts' FROM metrics_refresh_cascade('ct_v') r;\n";
$waiter->{h}->pump_nb while length $waiter->{in};
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'metrics_refresh worker' AND wait_event_type = 'Lock'"),
	'the cascade\'s worker waits for the lock on the options');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'metrics_refresh worker'");
$waiter->{h}->pump until $waiter->{out} =~ /\n/;
is($waiter->{out}, "error|false|{\"error\": 1}\n",
	'the caller answers the first run interrupted');
$holder->{in} .= "COMMIT;\n\\q\n";
$holder->{h}->finish;
$waiter->{in} .= "\\q\n";
$waiter->{h}->finish;
is( $node->safe_psql(
		'postgres',
		"SELECT view_name, status, sqlstate, cascade_id = id FROM metrics_refresh_log
		 WHERE cascade_id IS NOT NULL ORDER BY id"),
	'public.ct_v|error|57P01|t',
	'the first run is logged interrupted, and nothing after it');

$node->stop;
done_testing();
