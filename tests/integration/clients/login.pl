# Log in with DBD::MariaDB or DBD::mysql and print CURRENT_USER(); exit 1 with the error.
#   perl login.pl MariaDB|mysql
# Endpoint from MATRIX_HOST, MATRIX_PORT, MATRIX_CA, MATRIX_USER, MATRIX_PASSWORD.
use strict;
use warnings;
use DBI;

my $driver = $ARGV[0];
my $prefix = $driver eq 'MariaDB' ? 'mariadb' : 'mysql';
my $dsn = "DBI:$driver:host=$ENV{MATRIX_HOST};port=$ENV{MATRIX_PORT}"
    . ";${prefix}_ssl=1;${prefix}_ssl_ca_file=$ENV{MATRIX_CA};${prefix}_connect_timeout=10";
# DBD::mysql built against libmariadb refuses TLS settings it cannot enforce unless told
# that TLS is optional (it still uses TLS when the server offers it).
$dsn .= ';mysql_ssl_optional=1' if $driver eq 'mysql';
my $dbh = DBI->connect($dsn, $ENV{MATRIX_USER}, $ENV{MATRIX_PASSWORD},
                       { RaiseError => 0, PrintError => 0 });
if (!$dbh) {
    print STDERR "$DBI::err $DBI::errstr\n";
    exit 1;
}
my ($user) = $dbh->selectrow_array('SELECT CURRENT_USER()');
print "$user\n";
$dbh->disconnect;
