-- sysbench: log in once and print CURRENT_USER().
--   sysbench --db-driver=mysql --mysql-socket=... --mysql-user=... --mysql-password=...
--            --threads=1 --events=1 login.lua run
function thread_init()
  local con = sysbench.sql.driver():connect()
  local rs = con:query("SELECT CURRENT_USER()")
  local row = rs:fetch_row()
  print("CURRENT_USER=" .. row[1])
  con:disconnect()
end

function event()
end
