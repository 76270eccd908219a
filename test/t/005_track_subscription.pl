# skip_unchanged: a source table that becomes the target of a logical
# replication subscription after the option was turned on.  The apply
# worker fires no statement-level trigger, so its changes leave no change
# mark: the decision must not say "unchanged" while a source is subscribed
# (and the next refresh says, with a WARNING, that the view cannot be
# tracked any more).  The subscription is added with copy_data = false, so
# that no initial COPY (which fires statement triggers) marks anything.
#
# One server: the publication in database "pub", the subscription and the
# tracked view in database "sub".
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('track_subscription');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
lc_messages = 'C'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE pub');
$node->safe_psql('postgres', 'CREATE DATABASE sub');
$node->safe_psql(
	'pub', q{
CREATE TABLE ts_src (id int PRIMARY KEY, v int NOT NULL);
CREATE PUBLICATION ts_pub FOR TABLE ts_src;
SELECT pg_create_logical_replication_slot('ts_slot', 'pgoutput');
});
$node->safe_psql(
	'sub', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE ts_src (id int PRIMARY KEY, v int NOT NULL);
CREATE MATERIALIZED VIEW ts_mv AS SELECT id, v FROM ts_src;
CREATE UNIQUE INDEX ON ts_mv (id);
SELECT metrics_refresh_configure('ts_mv', skip_unchanged => true);
});

# One run: "status, fresh" or "status, STALE", and its WARNING if any (not
# sent to the server log: the test shows it).
sub run_view
{
	my ($stdout, $stderr) = ('', '');
	$node->psql(
		'sub', q{
SET log_min_messages = error;
SELECT metrics_refresh_run('ts_mv')->>'status';
SELECT CASE WHEN count(*) = 0 THEN 'fresh' ELSE 'STALE' END
FROM ((TABLE ts_src EXCEPT ALL TABLE ts_mv) UNION ALL (TABLE ts_mv EXCEPT ALL TABLE ts_src)) d},
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_die => 1);
	my ($warning) = $stderr =~ /WARNING:  (.*)$/m;
	return join(', ', split(/\n/, $stdout)) . (defined $warning ? " ($warning)" : '');
}

is(run_view(), 'success, fresh', 'first run');
is(run_view(), 'unchanged, fresh', 'nothing changed');

my $pub_connstr = $node->connstr('pub') =~ s/'/''/gr;
$node->safe_psql('sub',
	"CREATE SUBSCRIPTION ts_sub CONNECTION '$pub_connstr' PUBLICATION ts_pub "
	  . "WITH (create_slot = false, slot_name = 'ts_slot', copy_data = false)");
$node->safe_psql('pub', 'INSERT INTO ts_src VALUES (1, 10)');
$node->poll_query_until('sub', 'SELECT count(*) = 1 FROM ts_src')
  or die 'the row never arrived';
is($node->safe_psql('sub', 'SELECT count(*) FROM metrics_refresh_changes'),
	'0', 'the apply worker marked nothing');

is( run_view(),
	'success, fresh (cannot track the sources of materialized view "public.ts_mv" any more)',
	'a subscribed source: refreshed, with a WARNING');
$node->safe_psql('pub', 'UPDATE ts_src SET v = 11');
$node->poll_query_until('sub', 'SELECT v = 11 FROM ts_src')
  or die 'the update never arrived';
is( run_view(),
	'success, fresh (cannot track the sources of materialized view "public.ts_mv" any more)',
	'and refreshed every time');

$node->safe_psql('sub', 'DROP SUBSCRIPTION ts_sub');
$node->safe_psql('sub', 'DROP EXTENSION metrics_refresh');
$node->stop;
done_testing();
