<?php
// Log in with mysqli or PDO_mysql (mysqlnd) and print CURRENT_USER(); exit 1 with the error.
//   php login.php mysqli|pdo
// Endpoint from MATRIX_HOST, MATRIX_PORT, MATRIX_CA, MATRIX_USER, MATRIX_PASSWORD.
$host = getenv('MATRIX_HOST'); $port = (int)getenv('MATRIX_PORT'); $ca = getenv('MATRIX_CA');
$user = getenv('MATRIX_USER'); $password = getenv('MATRIX_PASSWORD');
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
try {
    if ($argv[1] === 'mysqli') {
        $m = mysqli_init();
        $m->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
        $m->ssl_set(null, null, $ca, null, null);
        $m->real_connect($host, $user, $password, null, $port, null, MYSQLI_CLIENT_SSL);
        echo $m->query('SELECT CURRENT_USER()')->fetch_row()[0], "\n";
    } else {
        $pdo = new PDO("mysql:host=$host;port=$port", $user, $password,
                       [PDO::MYSQL_ATTR_SSL_CA => $ca, PDO::ATTR_TIMEOUT => 10,
                        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        echo $pdo->query('SELECT CURRENT_USER()')->fetchColumn(), "\n";
    }
} catch (Throwable $e) {
    fwrite(STDERR, get_class($e) . ': ' . $e->getMessage() . "\n");
    exit(1);
}
