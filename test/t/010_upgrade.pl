# Upgrade 1.0.0 -> 1.1.0 (sql/metrics_refresh--1.0.0--1.1.0.sql).
#
# (a) A database where 1.0.0 was created and then updated has exactly the
#     objects of a fresh 1.1.0 install: both catalogs are described object by
#     object (functions with their definitions and properties, grants, tables,
#     columns, defaults, constraints, indexes, views, sequences, domains,
#     comments, aggregates, triggers, event triggers, initial privileges, the
#     extension's config-dump marks and members) and the descriptions must be
#     equal; the differences are printed when they are not.
# (b) A 1.0.0 database in use (log rows, schedules, pg_cron jobs, a pg_cron
#     job of its own) keeps its log, its configuration and its jobs through
#     the update, the jobs' command becomes 1.1.0's, the old runs are counted
#     in the statistics, and a job created by 1.0.0 still runs after the
#     update (pg_cron runs '* * * * *' at the next minute: up to 75 s).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'pg_cron is not installed'
  unless -f "$sharedir/extension/pg_cron.control";
plan skip_all => 'metrics_refresh 1.0.0 is not installed'
  unless -f "$sharedir/extension/metrics_refresh--1.0.0.sql";

# pg_cron serves one database (cron_db), which must exist before its
# launcher starts: create the databases first, then preload pg_cron.
my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "lc_messages = 'C'\n");
$node->start;
$node->safe_psql('postgres', "CREATE DATABASE $_") foreach qw(upgraded fresh cron_db);
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'cron_db'
cron.use_background_workers = on
max_worker_processes = 20
});
$node->restart;

# Everything that describes the extension's objects, one row per fact:
# "kind|object|property" and its value.  Names are printed as the database
# prints them (schema-qualified where not on the search_path), so two
# databases with the extension in the same schema compare equal.  Columns
# are compared by name and position among the columns not dropped.
my $catalog_sql = <<'SQL';
WITH ext AS (
    SELECT * FROM pg_catalog.pg_extension WHERE extname = 'metrics_refresh'),
members AS (
    SELECT d.classid, d.objid, d.objsubid
    FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
      AND d.deptype = 'e'),
procs AS (
    SELECT p.* FROM pg_catalog.pg_proc p
    WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_proc'::regclass)),
rels AS (
    SELECT c.* FROM pg_catalog.pg_class c
    WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_class'::regclass)),
-- Indexes, constraints and triggers belong to their table, not to the
-- extension; triggers anywhere that call one of its functions count too.
idx AS (
    SELECT i.* FROM pg_catalog.pg_index i WHERE i.indrelid IN (SELECT oid FROM rels)),
types AS (
    SELECT t.* FROM pg_catalog.pg_type t
    WHERE t.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_type'::regclass)),
cons AS (
    SELECT co.* FROM pg_catalog.pg_constraint co
    WHERE co.conrelid IN (SELECT oid FROM rels) OR co.contypid IN (SELECT oid FROM types)),
trigs AS (
    SELECT t.* FROM pg_catalog.pg_trigger t
    WHERE NOT t.tgisinternal
      AND (t.tgrelid IN (SELECT oid FROM rels) OR t.tgfoid IN (SELECT oid FROM procs))),
-- Every object whose comment or initial privileges count.
described AS (
    SELECT classid, objid FROM members
    UNION SELECT 'pg_catalog.pg_class'::regclass, indexrelid FROM idx
    UNION SELECT 'pg_catalog.pg_constraint'::regclass, oid FROM cons
    UNION SELECT 'pg_catalog.pg_trigger'::regclass, oid FROM trigs),
facts (kind, object, property, value) AS (
    SELECT 'extension', 'metrics_refresh', x.property, x.value
    FROM ext, LATERAL (VALUES
        ('version', ext.extversion),
        ('schema', ext.extnamespace::regnamespace::text),
        ('relocatable', ext.extrelocatable::text),
        ('owner', ext.extowner::regrole::text)) AS x(property, value)
UNION ALL
    -- pg_extension_config_dump marks: which tables pg_dump dumps, with
    -- which condition.
    SELECT 'config dump', cfg::regclass::text, 'condition', cond
    FROM ext, LATERAL unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)
UNION ALL
    SELECT 'member', pg_catalog.pg_describe_object(classid, objid, objsubid), 'deptype', 'e'
    FROM members
UNION ALL
    SELECT 'function', p.oid::regprocedure::text, x.property, x.value
    FROM procs p, LATERAL (VALUES
        ('definition', CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END),
        ('kind', p.prokind::text),
        ('language', (SELECT lanname::text FROM pg_catalog.pg_language WHERE oid = p.prolang)),
        ('returns', pg_catalog.pg_get_function_result(p.oid)),
        ('arguments', pg_catalog.pg_get_function_arguments(p.oid)),
        ('volatility', p.provolatile::text),
        ('strict', p.proisstrict::text),
        ('security definer', p.prosecdef::text),
        ('leakproof', p.proleakproof::text),
        ('parallel', p.proparallel::text),
        ('cost', p.procost::text),
        ('rows', p.prorows::text),
        ('config', p.proconfig::text),
        ('source', p.prosrc),
        ('library', p.probin),
        ('owner', p.proowner::regrole::text),
        ('acl', p.proacl::text)) AS x(property, value)
UNION ALL
    SELECT 'aggregate', a.aggfnoid::regprocedure::text, x.property, x.value
    FROM pg_catalog.pg_aggregate a JOIN procs p ON p.oid = a.aggfnoid, LATERAL (VALUES
        ('kind', a.aggkind::text),
        ('direct arguments', a.aggnumdirectargs::text),
        ('transition', a.aggtransfn::regprocedure::text),
        ('final', a.aggfinalfn::regproc::text),
        ('combine', a.aggcombinefn::regproc::text),
        ('serial', a.aggserialfn::regproc::text),
        ('deserial', a.aggdeserialfn::regproc::text),
        ('moving transition', a.aggmtransfn::regproc::text),
        ('moving inverse', a.aggminvtransfn::regproc::text),
        ('moving final', a.aggmfinalfn::regproc::text),
        ('final extra', a.aggfinalextra::text),
        ('final modify', a.aggfinalmodify::text),
        ('sort operator', a.aggsortop::regoperator::text),
        ('state type', a.aggtranstype::regtype::text),
        ('state space', a.aggtransspace::text),
        ('initial value', a.agginitval),
        ('moving state type', a.aggmtranstype::regtype::text),
        ('moving initial value', a.aggminitval)) AS x(property, value)
UNION ALL
    SELECT 'relation', c.oid::regclass::text, x.property, x.value
    FROM rels c, LATERAL (VALUES
        ('kind', c.relkind::text),
        ('persistence', c.relpersistence::text),
        ('options', c.reloptions::text),
        ('owner', c.relowner::regrole::text),
        ('acl', c.relacl::text),
        ('row security', c.relrowsecurity::text || ' ' || c.relforcerowsecurity::text),
        ('replica identity', c.relreplident::text),
        ('access method', (SELECT amname::text FROM pg_catalog.pg_am WHERE oid = c.relam)),
        ('view definition',
         CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END))
        AS x(property, value)
UNION ALL
    SELECT 'column', c.oid::regclass::text || '.' || a.attname, x.property, x.value
    FROM rels c
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum,
    LATERAL (VALUES
        ('position', (SELECT count(*) FROM pg_catalog.pg_attribute a2
                      WHERE a2.attrelid = c.oid AND a2.attnum > 0 AND NOT a2.attisdropped
                        AND a2.attnum <= a.attnum)::text),
        ('type', pg_catalog.format_type(a.atttypid, a.atttypmod)),
        ('not null', a.attnotnull::text),
        ('default', pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)),
        ('identity', a.attidentity::text),
        ('generated', a.attgenerated::text),
        ('collation', a.attcollation::regcollation::text),
        ('storage', a.attstorage::text),
        ('compression', a.attcompression::text),
        ('statistics target', a.attstattarget::text),
        ('acl', a.attacl::text)) AS x(property, value)
UNION ALL
    SELECT 'sequence', s.seqrelid::regclass::text, x.property, x.value
    FROM pg_catalog.pg_sequence s JOIN rels c ON c.oid = s.seqrelid, LATERAL (VALUES
        ('type', s.seqtypid::regtype::text),
        ('start', s.seqstart::text),
        ('increment', s.seqincrement::text),
        ('min', s.seqmin::text),
        ('max', s.seqmax::text),
        ('cache', s.seqcache::text),
        ('cycle', s.seqcycle::text),
        ('owned by', (SELECT string_agg(pg_catalog.pg_describe_object(refclassid, refobjid, refobjsubid)
                                        || ' (' || deptype::text || ')', ', ')
                      FROM pg_catalog.pg_depend
                      WHERE classid = 'pg_catalog.pg_class'::regclass AND objid = s.seqrelid
                        AND refclassid = 'pg_catalog.pg_class'::regclass AND deptype IN ('a', 'i'))))
        AS x(property, value)
UNION ALL
    SELECT 'constraint',
           CASE WHEN co.conrelid <> 0 THEN co.conrelid::regclass::text
                ELSE co.contypid::regtype::text END || ' ' || co.conname,
           x.property, x.value
    FROM cons co, LATERAL (VALUES
        ('definition', pg_catalog.pg_get_constraintdef(co.oid)),
        ('type', co.contype::text),
        ('deferrable', co.condeferrable::text || ' ' || co.condeferred::text),
        ('validated', co.convalidated::text),
        ('no inherit', co.connoinherit::text),
        ('index', co.conindid::regclass::text)) AS x(property, value)
UNION ALL
    SELECT 'index', i.indexrelid::regclass::text, x.property, x.value
    FROM idx i, LATERAL (VALUES
        ('definition', pg_catalog.pg_get_indexdef(i.indexrelid)),
        ('primary', i.indisprimary::text),
        ('unique', i.indisunique::text),
        ('nulls not distinct', i.indnullsnotdistinct::text),
        ('clustered', i.indisclustered::text),
        ('replica identity', i.indisreplident::text),
        ('valid', i.indisvalid::text)) AS x(property, value)
UNION ALL
    SELECT 'trigger', t.tgrelid::regclass::text || ' ' || t.tgname, x.property, x.value
    FROM trigs t, LATERAL (VALUES
        ('definition', pg_catalog.pg_get_triggerdef(t.oid)),
        ('enabled', t.tgenabled::text)) AS x(property, value)
UNION ALL
    SELECT 'rule', r.ev_class::regclass::text || ' ' || r.rulename, 'definition',
           pg_catalog.pg_get_ruledef(r.oid)
    FROM pg_catalog.pg_rewrite r
    WHERE r.ev_class IN (SELECT oid FROM rels) AND r.rulename <> '_RETURN'
UNION ALL
    SELECT 'policy', p.polrelid::regclass::text || ' ' || p.polname, x.property, x.value
    FROM pg_catalog.pg_policy p JOIN rels c ON c.oid = p.polrelid, LATERAL (VALUES
        ('command', p.polcmd::text),
        ('permissive', p.polpermissive::text),
        ('roles', p.polroles::regrole[]::text),
        ('using', pg_catalog.pg_get_expr(p.polqual, p.polrelid)),
        ('with check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid))) AS x(property, value)
UNION ALL
    SELECT 'event trigger', e.evtname::text, x.property, x.value
    FROM pg_catalog.pg_event_trigger e
    JOIN members m ON m.classid = 'pg_catalog.pg_event_trigger'::regclass AND m.objid = e.oid,
    LATERAL (VALUES
        ('event', e.evtevent::text),
        ('function', e.evtfoid::regprocedure::text),
        ('enabled', e.evtenabled::text),
        ('tags', e.evttags::text),
        ('owner', e.evtowner::regrole::text)) AS x(property, value)
UNION ALL
    -- Domains (and, from PostgreSQL 17 on, the relations' row types).
    SELECT 'type', t.oid::regtype::text, x.property, x.value
    FROM types t, LATERAL (VALUES
        ('kind', t.typtype::text),
        ('base type', CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END),
        ('not null', t.typnotnull::text),
        ('default', t.typdefault),
        ('collation', t.typcollation::regcollation::text),
        ('owner', t.typowner::regrole::text),
        ('acl', t.typacl::text)) AS x(property, value)
UNION ALL
    -- Comments on the objects, their columns, indexes, constraints, triggers.
    SELECT 'comment', pg_catalog.pg_describe_object(d.classoid, d.objoid, d.objsubid), 'text',
           d.description
    FROM pg_catalog.pg_description d
    WHERE (d.classoid, d.objoid) IN (SELECT classid, objid FROM described)
UNION ALL
    -- The privileges the scripts granted or revoked (pg_dump compares the
    -- current privileges with these).
    SELECT 'initial privileges', pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
           ip.privtype::text, ip.initprivs::text
    FROM pg_catalog.pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT classid, objid FROM described))
SELECT kind || '|' || object || '|' || property || E'\t'
       || replace(replace(coalesce(value, '<null>'), E'\\', E'\\\\'), E'\n', E'\\n')
FROM facts
ORDER BY 1
SQL

# The description of database $db: { "kind|object|property" => value }.
sub catalog
{
	my ($db) = @_;
	my %facts;
	foreach my $line (split /\n/, $node->safe_psql($db, $catalog_sql))
	{
		my ($key, $value) = split /\t/, $line, 2;
		die "fact described twice in $db: $key" if exists $facts{$key};
		$facts{$key} = $value;
	}
	return \%facts;
}

# Compare the descriptions of two databases; print every difference.
sub same_catalog
{
	my ($db, $reference, $what) = @_;
	my $got = catalog($db);
	my $want = catalog($reference);
	my @diffs;
	foreach my $key (sort keys %$want)
	{
		if (!exists $got->{$key})
		{
			push @diffs, "only in $reference: $key = $want->{$key}";
		}
		elsif ($got->{$key} ne $want->{$key})
		{
			push @diffs, "differs: $key\n    $reference: $want->{$key}\n    $db: $got->{$key}";
		}
	}
	push @diffs, "only in $db: $_ = $got->{$_}" foreach grep { !exists $want->{$_} } sort keys %$got;
	ok(@diffs == 0, $what) or diag(join("\n", scalar(@diffs) . " differences:", @diffs));
	return scalar keys %$want;
}

# ALTER EXTENSION metrics_refresh UPDATE in $db: it succeeds and says
# nothing (no WARNING from the extension's event triggers, which fire on the
# update script's own DDL).
sub update_extension
{
	my ($db) = @_;
	my ($stdout, $stderr) = ('', '');
	my $rc = $node->psql(
		$db, 'ALTER EXTENSION metrics_refresh UPDATE',
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 1);
	is($rc, 0, "$db: ALTER EXTENSION metrics_refresh UPDATE succeeds");
	is($stderr, '', "$db: the update prints no message");
	return;
}

#
# (a) 1.0.0 updated to 1.1.0 has what a fresh 1.1.0 install has.
#
$node->safe_psql('upgraded', "CREATE EXTENSION metrics_refresh VERSION '1.0.0'");
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'"),
	'1.0.0', 'version 1.0.0 installed');
update_extension('upgraded');
is($node->safe_psql('upgraded', "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'"),
	'1.1.0', 'updated to 1.1.0');
$node->safe_psql('fresh', 'CREATE EXTENSION metrics_refresh');
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'"),
	'1.1.0', 'fresh install of 1.1.0');

my $facts = same_catalog('upgraded', 'fresh', 'updated 1.0.0 = fresh 1.1.0, object by object');
# The comparison must have compared something of each kind the extension
# has everywhere (some versions add kinds, e.g. member types on 17).
my %kinds = map { $_ => 1 } split /\n/, $node->safe_psql('fresh',
	"SELECT DISTINCT split_part(line, '|', 1) FROM (" . ($catalog_sql =~ s/;\s*$//r) . ") AS f(line)");
is( join(',', grep { !$kinds{$_} } qw(aggregate column comment constraint extension
		  function index member relation sequence), 'config dump', 'event trigger', 'initial privileges'),
	'',
	"kinds of facts compared: " . join(', ', sort keys %kinds) . " ($facts facts)");

#
# (b) A 1.0.0 database in use: log, schedules, pg_cron jobs.
#
$node->safe_psql(
	'cron_db', q{
CREATE EXTENSION pg_cron;
CREATE EXTENSION metrics_refresh VERSION '1.0.0';
CREATE SCHEMA app;
CREATE TABLE app.accounts (id int PRIMARY KEY);
INSERT INTO app.accounts SELECT generate_series(1, 3);
CREATE MATERIALIZED VIEW app.every_minute AS SELECT 1 AS id, count(*) AS n FROM app.accounts;
CREATE UNIQUE INDEX ON app.every_minute (id);
CREATE MATERIALIZED VIEW app.nightly AS SELECT 1 AS id, max(id) AS top FROM app.accounts;
CREATE UNIQUE INDEX ON app.nightly (id);
CREATE MATERIALIZED VIEW app.no_index AS SELECT 1 AS id;
});
# Runs logged by 1.0.0: successes, a failure, both sources.
$node->safe_psql(
	'cron_db', q{
SELECT metrics_refresh_run('app.every_minute');
SELECT metrics_refresh_run('app.every_minute', 'scheduled');
SELECT metrics_refresh_run('app.nightly');
SELECT metrics_refresh_run('app.no_index');
SELECT metrics_refresh_trigger('app.nightly');
});
# Schedules made by 1.0.0, and a pg_cron job that is not metrics_refresh's.
$node->safe_psql(
	'cron_db', q{
SELECT metrics_refresh_schedule('app.every_minute', '* * * * *', '7 minutes');
SELECT metrics_refresh_schedule('app.nightly', '0 3 * * *');
SELECT cron.schedule('not ours', '0 4 * * *', 'SELECT 1');
});

# pg_cron may run the '* * * * *' job at any moment from here on, before the
# update as after it: the checks below compare what was there before, and
# numbers of runs with the log of the same moment, never with fixed counts of
# that view.
my $max_id_before = $node->safe_psql('cron_db', 'SELECT max(id) FROM metrics_refresh_log');
my $log_sql = qq{
SELECT string_agg(concat_ws('|', id, view_name, started_at, finished_at, duration_ms, status,
                            method, source, triggered_by, sqlstate, error_message, error_detail,
                            error_hint, skip_reason), E'\\n' ORDER BY id)
FROM metrics_refresh_log WHERE id <= $max_id_before};
my $config_sql = q{
SELECT string_agg(concat_ws('|', view_name, schedule, stale_after, jobid), E'\n' ORDER BY view_name)
FROM metrics_refresh_config};
my $jobs_sql = q{
SELECT string_agg(concat_ws('|', jobid, jobname, schedule, username, database, active),
                  E'\n' ORDER BY jobid)
FROM cron.job};
my $commands_sql =
  q{SELECT string_agg(jobname || ': ' || command, E'\n' ORDER BY jobid) FROM cron.job};

my $log_before = $node->safe_psql('cron_db', $log_sql);
my $config_before = $node->safe_psql('cron_db', $config_sql);
my $jobs_before = $node->safe_psql('cron_db', $jobs_sql);
is( $node->safe_psql('cron_db',
		q{SELECT string_agg(id || ' ' || view_name || ' ' || status || ' ' || source, ', ' ORDER BY id)
		  FROM metrics_refresh_log WHERE id <= 5}),
	'1 app.every_minute success manual, 2 app.every_minute success scheduled, '
	  . '3 app.nightly success manual, 4 app.no_index error manual, 5 app.nightly success manual',
	'1.0.0 logged the five runs');
is( $node->safe_psql('cron_db', $commands_sql),
	"metrics_refresh app.every_minute: SELECT public.metrics_refresh_run('app.every_minute'::pg_catalog.regclass, 'scheduled')\n"
	  . "metrics_refresh app.nightly: SELECT public.metrics_refresh_run('app.nightly'::pg_catalog.regclass, 'scheduled')\n"
	  . "not ours: SELECT 1",
	'1.0.0 jobs call metrics_refresh_run by name');

# Between installing the 1.1.0 files and ALTER EXTENSION ... UPDATE (a
# package upgrade replaces the library of every database at once), the 1.1.0
# library serves the 1.0.0 objects: refreshes and schedules (above), status
# and history work; the overview needs the 1.1.0 objects and says so.  (On
# app.nightly, whose job runs at 03:00 only.)
is( $node->safe_psql('cron_db',
		q{SELECT concat_ws('|', r->>'status', r->>'total', r->>'successful')
		  FROM metrics_refresh_status('app.nightly') r}),
	'healthy|2|2',
	'before the update: metrics_refresh_status');
is($node->safe_psql('cron_db', "SELECT count(*) FROM metrics_refresh_history('app.nightly', 100)"),
	'2', 'before the update: metrics_refresh_history');
# The result of one statement, or its error.
sub result_or_error
{
	my ($db, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql($db, $sql, stdout => \$out, stderr => \$err);
	return $err =~ /ERROR:  (.*)$/m ? "ERROR: $1" : $out;
}
TODO:
{
	# src/monitor.c, mr_timeline_rows: the query always returns 1.1.0's seven
	# columns (unchanged last), 1.0.0's function declares six.
	local $TODO = 'metrics_refresh_timeline returns 1.1.0\'s columns to 1.0.0\'s declaration';
	is(result_or_error('cron_db',
			q{SELECT sum(runs) || '|' || sum(successes) FROM metrics_refresh_timeline('app.nightly')}),
		'2|2', 'before the update: metrics_refresh_timeline');
	like(result_or_error('cron_db', "SELECT metrics_refresh_dashboard('app.nightly')"),
		qr/Metrics Refresh Monitor.*Success Rate: 100% \(2\/2\)/s, 'before the update: the dashboard');
}
my ($overview_out, $overview_err) = ('', '');
$node->psql(
	'cron_db', "SELECT * FROM metrics_refresh_overview;\n\\echo :LAST_ERROR_SQLSTATE",
	stdout => \$overview_out,
	stderr => \$overview_err,
	on_error_stop => 0);
is( $overview_out . '|' . join('|', $overview_err =~ /^(?:psql:\S+ )?(?:ERROR|HINT):  (.*)$/mg),
	"55000|the metrics_refresh overview needs the extension's version 1.1.0 objects"
	  . '|Run ALTER EXTENSION metrics_refresh UPDATE.',
	'before the update: the overview asks for the update');

update_extension('cron_db');
my $updated_at = $node->safe_psql('cron_db', 'SELECT now()');
is($node->safe_psql('cron_db', "SELECT extversion FROM pg_extension WHERE extname = 'metrics_refresh'"),
	'1.1.0', 'the database in use is updated to 1.1.0');

is($node->safe_psql('cron_db', $log_sql), $log_before, 'the log is kept, row by row');
is( $node->safe_psql('cron_db',
		"SELECT count(*) FILTER (WHERE cascade_id IS NULL) || '/' || count(*) FROM metrics_refresh_log"),
	$node->safe_psql('cron_db', "SELECT count(*) || '/' || count(*) FROM metrics_refresh_log"),
	'old runs belong to no cascade');
is($node->safe_psql('cron_db', $config_sql), $config_before, 'the schedules are kept');
is( $node->safe_psql('cron_db',
		q{SELECT string_agg(concat_ws('|', view_name, skip_unchanged, max_skip, "cascade"), E'\n' ORDER BY view_name)
		  FROM metrics_refresh_config}),
	"app.every_minute|f|1 day|f\napp.nightly|f|1 day|f",
	'the schedules get the default options');
is($node->safe_psql('cron_db', $jobs_sql), $jobs_before,
	'the pg_cron jobs are kept: ids, names, schedules, users, databases');
is( $node->safe_psql('cron_db', $commands_sql),
	"metrics_refresh app.every_minute: SELECT pg_catalog.metrics_refresh_job('app.every_minute'::pg_catalog.regclass)\n"
	  . "metrics_refresh app.nightly: SELECT pg_catalog.metrics_refresh_job('app.nightly'::pg_catalog.regclass)\n"
	  . "not ours: SELECT 1",
	'the jobs now call metrics_refresh_job; the other job is untouched');

# A schedule made now has the same command as an updated one.
$node->safe_psql('cron_db', "SELECT metrics_refresh_schedule('app.nightly', '0 3 * * *')");
is( $node->safe_psql('cron_db',
		"SELECT command FROM cron.job WHERE jobname = 'metrics_refresh app.nightly'"),
	"SELECT pg_catalog.metrics_refresh_job('app.nightly'::pg_catalog.regclass)",
	'rescheduling gives the same command');
is($node->safe_psql('cron_db', $jobs_sql), $jobs_before, 'rescheduling keeps the job');

# The database in use has the same objects as a fresh install, too.
same_catalog('cron_db', 'fresh', 'the database in use = fresh 1.1.0, object by object');

# The statistics and the overview count every run of the log, those 1.0.0
# logged included (each compared with the log in the same statement).
is( $node->safe_psql('cron_db',
		q{SELECT string_agg(concat_ws('|', view_name, s.successful = l.successful AND s.failed = l.failed
		                                   AND s.skipped = l.skipped AND s.unchanged = l.unchanged,
		                              l.successful >= 2, l.failed), E'\n' ORDER BY view_name)
		  FROM metrics_refresh_stats s
		  FULL JOIN (SELECT view_name,
		                    count(*) FILTER (WHERE status = 'success') AS successful,
		                    count(*) FILTER (WHERE status = 'error') AS failed,
		                    count(*) FILTER (WHERE status = 'skipped') AS skipped,
		                    count(*) FILTER (WHERE status = 'unchanged') AS unchanged
		             FROM metrics_refresh_log GROUP BY view_name) l USING (view_name)}),
	"app.every_minute|t|t|0\napp.nightly|t|t|0\napp.no_index|t|f|1",
	'statistics count the runs logged before the update');
is( $node->safe_psql('cron_db',
		q{SELECT string_agg(view_name || '|' || status || '|'
		                    || (total = (SELECT count(*) FROM metrics_refresh_log l
		                                 WHERE l.view_name = o.view_name)), E'\n' ORDER BY view_name)
		  FROM metrics_refresh_overview o}),
	"app.every_minute|healthy|true\napp.nightly|healthy|true\napp.no_index|failing|true",
	'the overview shows the runs logged before the update');

# The job 1.0.0 created runs after the update, and logs a scheduled success.
my $ran_sql = qq{
SELECT EXISTS (SELECT FROM metrics_refresh_log
               WHERE view_name = 'app.every_minute' AND source = 'scheduled'
                 AND status = 'success' AND started_at > '$updated_at')};
# (pg_cron records the run's end just after the job's transaction commits.)
my $job_status_sql = q{
SELECT string_agg(DISTINCT d.status, ',') FROM cron.job_run_details d
JOIN cron.job j USING (jobid) WHERE j.jobname = 'metrics_refresh app.every_minute'};
my ($ran, $succeeded);
{
	local $PostgreSQL::Test::Utils::timeout_default = 75;
	$ran = $node->poll_query_until('cron_db', $ran_sql);
	$succeeded = $ran && $node->poll_query_until('cron_db', $job_status_sql, 'succeeded');
}
ok($ran, "the 1.0.0 job ran after the update and logged a success") or diag(
	$node->safe_psql(
		'cron_db',
		q{SELECT string_agg(concat_ws('|', runid, jobid, status, return_message, start_time), E'\n')
		  FROM cron.job_run_details}));
ok($succeeded, 'pg_cron reports the job as succeeded');
cmp_ok($node->safe_psql('cron_db', "SELECT min(id) FROM metrics_refresh_log WHERE started_at > '$updated_at'"),
	'>', $node->safe_psql('cron_db', "SELECT max(id) FROM metrics_refresh_log WHERE started_at <= '$updated_at'"),
	'new runs get new ids');

# Unscheduling finds a job 1.0.0 created, and dropping the extension removes
# the remaining one (and nothing else).
is($node->safe_psql('cron_db', "SELECT metrics_refresh_unschedule('app.every_minute')"),
	't', 'unschedule a job created by 1.0.0');
$node->safe_psql('cron_db', 'DROP EXTENSION metrics_refresh');
is($node->safe_psql('cron_db', 'SELECT string_agg(jobname, \',\') FROM cron.job'),
	'not ours', 'DROP EXTENSION removes the jobs it created, only those');

$node->stop;
done_testing();
