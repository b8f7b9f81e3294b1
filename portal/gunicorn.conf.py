"""gunicorn's settings for the portal: `gunicorn -c portal/gunicorn.conf.py --bind HOST:PORT
--workers N`, as `make serve` runs it. The command line gives what differs per machine (the
address and the number of worker processes); this file gives the rest.
"""

wsgi_app = "portal.wsgi:application"

# One line per request on stdout; gunicorn's own messages on stderr.
accesslog = "-"
errorlog = "-"

# A worker silent this long (a request stuck in a view) is killed and replaced. Restores never run
# in a web request (the task worker runs them), so no page needs longer.
timeout = 30
# On SIGTERM or Ctrl-C, requests in flight get this long to finish before their worker is killed.
graceful_timeout = 10
# Seconds an idle kept-alive connection from a proxy in front stays open.
keepalive = 5

# No `gunicornc` control socket: by default every gunicorn on the machine would share one path
# ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl), and nothing here uses it.
control_socket_disable = True
