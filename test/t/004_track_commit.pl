# skip_unchanged: writers caught between the moment they record their change
# and the moment it becomes visible, which no isolation spec can hold.
#
# 1. A writer that finds a change mark already there does not write its
#    own; it relies on that mark, and holds the view's tracking key (shared)
#    until its commit is visible, so that a refresh cannot delete the mark
#    and take its snapshot in between.  The writer is held inside COMMIT -
#    after the pre-commit callback, before it is visible - by a synchronous
#    commit that no standby acknowledges (synchronous_standby_names names
#    one that does not exist; the other sessions commit locally); cancelling
#    the wait releases it (its transaction is committed; the WARNING saying
#    so is kept out of the server log, the test shows what it needs).
# 2. Two SERIALIZABLE writers marking the same view at the same time: the
#    marks must not make one of them fail to serialize (reading and writing
#    the marks is bookkeeping, not part of what they read and write).
# 3. A prepared transaction writes its mark at PREPARE, without the key;
#    the mark becomes visible with COMMIT PREPARED, and the next run
#    refreshes.
#
# After each run, the view is compared with its source: a run that is
# "unchanged" over a view that differs is a false "unchanged".
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('track_commit');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
wal_level = replica
max_wal_senders = 2
synchronous_standby_names = 'regress_no_such_standby'
synchronous_commit = local
max_prepared_transactions = 2
lc_messages = 'C'
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE tk_src (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO tk_src VALUES (1, 10);
CREATE MATERIALIZED VIEW tk_mv AS SELECT id, v FROM tk_src;
CREATE UNIQUE INDEX ON tk_mv (id);
SELECT metrics_refresh_configure('tk_mv', skip_unchanged => true);
});

# One run: "status, fresh" or "status, STALE".
sub run_view
{
	my $status = $node->safe_psql('postgres', "SELECT metrics_refresh_run('tk_mv')->>'status'");
	my $fresh = $node->safe_psql(
		'postgres', q{
SELECT CASE WHEN count(*) = 0 THEN 'fresh' ELSE 'STALE' END
FROM ((TABLE tk_src EXCEPT ALL TABLE tk_mv) UNION ALL (TABLE tk_mv EXCEPT ALL TABLE tk_src)) d});
	return "$status, $fresh";
}

# A psql running commands in the background (each -c its own transaction),
# as application_name $name.
sub start_psql
{
	my ($name, $commands, $out, $err) = @_;
	return IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres') . " application_name=$name",
			map { ('-c', $_) } @$commands
		],
		'<', \undef, '>', $out, '2>', $err);
}

# A writer held inside its COMMIT: run $sql (after @settings) as
# application_name $name, wait until its commit waits for the standby.
sub start_writer
{
	my ($name, $sql, $out, $err, @settings) = @_;
	my $writer = start_psql($name,
		[ 'SET log_min_messages = error', 'SET synchronous_commit = on', @settings, $sql ],
		$out, $err);
	$node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = '$name' AND wait_event = 'SyncRep'")
	  or die "the writer never waited for its synchronous commit: $$err";
	return $writer;
}

# Release it: cancel the wait (the transaction is committed already).
sub release_writer
{
	my ($name, $writer) = @_;
	$node->safe_psql('postgres',
		"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = '$name'");
	$writer->finish;
	is($? >> 8, 0, "$name: its commit ended");
}

is(run_view(), 'success, fresh', 'first run');
is(run_view(), 'unchanged, fresh', 'nothing changed');

# 1. A committed change leaves a mark; the writer relies on it.
$node->safe_psql('postgres', 'UPDATE tk_src SET v = v + 1 WHERE id = 1');
my ($writer_out, $writer_err) = ('', '');
my $writer = start_writer('tk_writer', 'INSERT INTO tk_src VALUES (2, 20)', \$writer_out,
	\$writer_err);
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_changes'),
	'1', 'the writer wrote no mark of its own: one was there');

# The refresh waits for the writer's commit: it waits for the tracking key
# (were the key not held, it would end - its run logged - before the
# writer's row is visible, and the checks below would fail).
my $runs_before = $node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_log');
my ($run_out, $run_err) = ('', '');
my $run = start_psql('tk_refresh', [ "SELECT metrics_refresh_run('tk_mv')->>'status'" ],
	\$run_out, \$run_err);
my $waiting_sql = q{
SELECT count(*) FROM pg_stat_activity
WHERE application_name = 'tk_refresh' AND wait_event_type = 'Lock'};
$node->poll_query_until('postgres',
	"SELECT ($waiting_sql) = 1 OR (SELECT count(*) FROM metrics_refresh_log) > $runs_before")
  or die "the refresh neither ended nor waited for a lock: $run_err";
is($node->safe_psql('postgres', $waiting_sql),
	'1', 'the refresh waits for the writer, holding its mark, to commit');

release_writer('tk_writer', $writer);
$run->finish;
is($? >> 8, 0, "the refresh ended $run_err");
chomp $run_out;
is($run_out, 'success', 'the refresh, after the writer committed');
is( $node->safe_psql('postgres', "SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM tk_mv"),
	'1:11 2:20',
	'the refresh saw the writer\'s row');
is(run_view(), 'unchanged, fresh', 'then nothing changed');

# 2. Two SERIALIZABLE writers, no mark there yet: the first is held in its
# commit, after writing its mark; the second, which does not see that mark,
# writes its own and commits; then the first is released.
is($node->safe_psql('postgres', 'SELECT count(*) FROM metrics_refresh_changes'),
	'0', 'no mark');
my $serializable = 'SET default_transaction_isolation = serializable';
($writer_out, $writer_err) = ('', '');
$writer = start_writer('tk_ser1', 'INSERT INTO tk_src VALUES (5, 50)', \$writer_out,
	\$writer_err, $serializable);
my ($stdout, $stderr) = ('', '');
$node->psql(
	'postgres', "$serializable; INSERT INTO tk_src VALUES (6, 60)",
	stdout => \$stdout,
	stderr => \$stderr);
is($stderr, '', 'the second SERIALIZABLE writer commits');
release_writer('tk_ser1', $writer);
is(run_view(), 'success, fresh', 'both changes are seen');
is(run_view(), 'unchanged, fresh', 'then nothing changed');

# 3. Prepared transactions.  A change prepared but not committed is no
# change yet; once committed, its mark is there.
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO tk_src VALUES (3, 30); PREPARE TRANSACTION 'tk_three';");
is(run_view(), 'unchanged, fresh', 'a prepared change is not a change yet');
$node->safe_psql('postgres', "COMMIT PREPARED 'tk_three'");
is(run_view(), 'success, fresh', 'after COMMIT PREPARED');
is(run_view(), 'unchanged, fresh', 'then nothing changed');

# Prepared before a refresh, committed after it.
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO tk_src VALUES (4, 40); PREPARE TRANSACTION 'tk_four';");
$node->safe_psql('postgres', 'UPDATE tk_src SET v = v + 1 WHERE id = 1');
is(run_view(), 'success, fresh', 'a refresh while a change is prepared');
$node->safe_psql('postgres', "COMMIT PREPARED 'tk_four'");
is(run_view(), 'success, fresh', 'after COMMIT PREPARED, the next run refreshes');
is(run_view(), 'unchanged, fresh', 'then nothing changed');

$node->safe_psql('postgres', 'DROP EXTENSION metrics_refresh');
$node->stop;
done_testing();
