-- One event = connect (and authenticate), SELECT 1, disconnect: the login rate.
function thread_init()
  drv = sysbench.sql.driver()
end

function event()
  local con = drv:connect()
  con:query("SELECT 1")
  con:disconnect()
end
