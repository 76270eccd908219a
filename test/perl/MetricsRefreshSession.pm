# A psql session that a TAP test feeds through its standard input and reads
# as it goes, for what needs two sessions at once (a lock held while
# another waits for it, a caller terminated while it waits).
#
#   my $s = psql_session($node);
#   $s->{in} .= "SELECT 1;\n";
#   $s->{h}->pump until $s->{out} =~ /\n/;
#   $s->{in} .= "\\q\n";
#   $s->{h}->finish;
#
# psql runs unaligned, tuples only, quiet, without psqlrc, on the node's
# database postgres; $s->{out} and $s->{err} collect its output.
package MetricsRefreshSession;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(psql_session);

sub psql_session
{
	my ($node) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err},
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return \%s;
}

1;
