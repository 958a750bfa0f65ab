// Drives a Node client library through the bridge for the integration tests.
// Usage: node client.js '<json>' with {lib: "mariadb"|"mysql", connect: {...}, steps: [...]}
// Each step is {query: sql} or {changeUser: {...}}; prints one JSON object per step
// ({ok: rows} or {error: {errno, code, message}}), and one for the connection first.
"use strict";
const spec = JSON.parse(process.argv[2]);

function failure(err) {
  return { error: { errno: err.errno, code: err.code, message: err.sqlMessage || err.message } };
}

async function withMariadb() {
  const mariadb = require("mariadb");
  let conn;
  try {
    conn = await mariadb.createConnection(spec.connect);
    console.log(JSON.stringify({ ok: "connected" }));
  } catch (err) {
    console.log(JSON.stringify(failure(err)));
    return;
  }
  for (const step of spec.steps) {
    try {
      if (step.query) {
        const rows = await conn.query({ sql: step.query, rowsAsArray: true });
        console.log(JSON.stringify({ ok: rows }));
      } else {
        await conn.changeUser(step.changeUser);
        console.log(JSON.stringify({ ok: "changed" }));
      }
    } catch (err) {
      console.log(JSON.stringify(failure(err)));
    }
  }
  await conn.end().catch(() => {});
}

function withMysql() {
  const mysql = require("mysql");
  const conn = mysql.createConnection(spec.connect);
  const steps = spec.steps.slice();
  const next = () => {
    const step = steps.shift();
    if (!step) {
      conn.end(() => {});
      return;
    }
    const done = (err, rows) => {
      console.log(JSON.stringify(err ? failure(err) : { ok: rows === undefined ? "changed" : rows.map((r) => Object.values(r)) }));
      next();
    };
    if (step.query) conn.query(step.query, done);
    else conn.changeUser(step.changeUser, (err) => done(err));
  };
  conn.connect((err) => {
    console.log(JSON.stringify(err ? failure(err) : { ok: "connected" }));
    if (err) return;
    next();
  });
}

if (spec.lib === "mariadb") withMariadb().catch((err) => { console.log(JSON.stringify(failure(err))); });
else withMysql();
