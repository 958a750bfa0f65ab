// Log in with one Node client and print CURRENT_USER(); exit 1 with the error.
//   node login.js mysql2|mysql2-dialog|mariadb|mysql
// mysql2-dialog: mysql2 with a custom authPlugins entry for MariaDB's dialog (PAM).
// Endpoint from MATRIX_HOST, MATRIX_PORT, MATRIX_CA, MATRIX_USER, MATRIX_PASSWORD.
'use strict';
const fs = require('fs');
const env = process.env;
const base = {
  host: env.MATRIX_HOST, port: Number(env.MATRIX_PORT), user: env.MATRIX_USER,
  password: env.MATRIX_PASSWORD, connectTimeout: 10000,
  ssl: { ca: fs.readFileSync(env.MATRIX_CA) },
};
const QUERY = 'SELECT CURRENT_USER() AS u';

function dialogAnswer() {
  // Every dialog question gets the password, NUL-terminated (what libmariadb's dialog
  // plugin answers to a password prompt).
  return () => () => Buffer.from(env.MATRIX_PASSWORD + '\0');
}

async function mysql2(extra) {
  const m = require('mysql2/promise');
  const conn = await m.createConnection({ ...base, ...extra });
  const [rows] = await conn.query(QUERY);
  await conn.end();
  return rows[0].u;
}

async function mariadb() {
  const m = require('mariadb');
  const conn = await m.createConnection(base);
  const rows = await conn.query(QUERY);
  await conn.end();
  return rows[0].u;
}

function mysql() {
  const m = require('mysql');
  return new Promise((resolve, reject) => {
    const conn = m.createConnection(base);
    conn.query(QUERY, (err, rows) => {
      conn.destroy();
      if (err) reject(err); else resolve(rows[0].u);
    });
  });
}

const DRIVERS = {
  mysql2: () => mysql2({ enableCleartextPlugin: true }),
  'mysql2-dialog': () => mysql2({ enableCleartextPlugin: true, authPlugins: { dialog: dialogAnswer() } }),
  mariadb,
  mysql,
};

DRIVERS[process.argv[2]]().then(
  (user) => { console.log(user); process.exit(0); },
  (err) => { console.error(`${err.code || ''} ${err.message}`); process.exit(1); },
);
