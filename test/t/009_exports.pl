# What the library exports: what the server looks up in it by name, and
# nothing else.  That is every C symbol the extension's scripts name (the
# install script, the released 1.0.0 script and the upgrade scripts) with its
# info function (pg_finfo_*), the magic block, _PG_init, the background
# worker's entry point (bgw_function_name), and mr_cascade_plan, exported
# for bench/cascade_plan.c.  PostgreSQL 16 and later build modules with
# hidden visibility; before 16 the Makefile and src/compat.h do the same, and
# a C function that escaped them would break CREATE EXTENSION on 15 only.
# Then a server creates the extension (a C function whose symbol is missing
# fails its CREATE FUNCTION) and calls one function and the worker.
use strict;
use warnings;

use File::Basename;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pkglibdir = `pg_config --pkglibdir`;
chomp $pkglibdir;
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $lib = "$pkglibdir/metrics_refresh.so";
my $nm = $ENV{NM} || 'nm';
plan skip_all => "$nm (binutils) is not installed"
  unless $nm =~ m{/} ? -x $nm : grep { -x "$_/$nm" } split /:/, $ENV{PATH};
ok(-f $lib, "the library is installed ($lib)");

# The C symbols the installed scripts name.
my %named;
for my $script (glob("$sharedir/extension/metrics_refresh--*.sql"))
{
	open(my $fh, '<', $script) or die "$script: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	$named{$1} = 1 while $text =~ /AS\s+'MODULE_PATHNAME'\s*,\s*'([A-Za-z0-9_]+)'/g;
	unlike($text, qr/AS\s+'MODULE_PATHNAME'\s*;/,
		basename($script) . ' names the symbol of each C function');
}
cmp_ok(scalar(keys %named), '>=', 30, 'the scripts name the C functions');

my %expected = map { ($_ => 1, "pg_finfo_$_" => 1) } keys %named;
$expected{$_} = 1
  for qw(Pg_magic_func _PG_init metrics_refresh_worker_main mr_cascade_plan);

# What it exports: every defined name in the dynamic symbol table, functions
# or data, but the linker's own.
my ($stdout, $stderr);
IPC::Run::run([ $nm, '-D', '--defined-only', $lib ], '>', \$stdout, '2>', \$stderr)
  or die "$nm failed: $stderr";
my %exported;
for my $line (split /\n/, $stdout)
{
	my ($type, $name) = (split ' ', $line)[ 1, 2 ];
	# The linker's own: _init, _fini, _edata, _end, __bss_start (and, on
	# some architectures, __bss_start__, __bss_end__, _bss_end__, __end__).
	next if !defined $name || $name =~ /^(_init|_fini|_edata|_+end_*|_*bss_(start|end)_*)$/;
	$exported{$name} = 1;
}
my @missing = sort grep { !$exported{$_} } keys %expected;
my @extra = sort grep { !$expected{$_} } keys %exported;
is("@missing", '', 'every symbol the server looks up is exported');
is("@extra", '', 'nothing else is exported');

my $node = PostgreSQL::Test::Cluster->new('exports');
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 8\nlc_messages = 'C'\n");
$node->start;
$node->safe_psql(
	'postgres', q{
CREATE EXTENSION metrics_refresh;
CREATE TABLE ex_t (id int PRIMARY KEY);
INSERT INTO ex_t VALUES (1);
CREATE MATERIALIZED VIEW ex_v AS SELECT id FROM ex_t;
CREATE UNIQUE INDEX ON ex_v (id);
});
is( $node->safe_psql(
		'postgres', q{SELECT string_agg(DISTINCT p.prosrc COLLATE "C", ' ' ORDER BY p.prosrc COLLATE "C")
		FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
		AND d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
		JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'metrics_refresh'
		JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'c'}),
	join(' ', sort(current_symbols())),
	'the extension created every C function of its install script');
is($node->safe_psql('postgres', q{SELECT metrics_refresh_run('ex_v')->>'status'}),
	'success', 'a run in this session');
is( $node->safe_psql(
		'postgres', q{SELECT metrics_refresh_trigger('ex_v', wait => false)->>'status'}),
	'running', 'the background worker found its entry point');
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM metrics_refresh_log WHERE status = 'running'})
  or die 'the background run did not finish';
is( $node->safe_psql(
		'postgres',
		q{SELECT status FROM metrics_refresh_log ORDER BY id DESC LIMIT 1}),
	'success',
	'the background run succeeded');
$node->stop;

# The C symbols the install script of the default version names.
sub current_symbols
{
	open(my $fh, '<', "$sharedir/extension/metrics_refresh.control") or die $!;
	my ($version) = map { /^default_version\s*=\s*'([^']+)'/ ? $1 : () } <$fh>;
	close $fh;
	open($fh, '<', "$sharedir/extension/metrics_refresh--$version.sql") or die $!;
	local $/;
	my $text = <$fh>;
	close $fh;
	my %current;
	$current{$1} = 1 while $text =~ /AS\s+'MODULE_PATHNAME'\s*,\s*'([A-Za-z0-9_]+)'/g;
	return keys %current;
}

done_testing();
