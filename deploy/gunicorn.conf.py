"""gunicorn for production (docs/deploy.md): `gunicorn -c deploy/gunicorn.conf.py "app:create_app()"`.

Settings come from the environment (the same file as the app's, see attune.env.example), so one file
serves every host. Sync workers: a request is a few short queries, and a crashed worker loses nothing
(an acknowledged check-in is committed before the answer; tests/test_durability.py, tests/test_scale.py).
"""

import os

# Only the TLS proxy on this host talks to gunicorn; it never faces the internet.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# The app reads WEB_CONCURRENCY too: more than one worker needs Redis for the rate limits.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"
timeout = 30  # a worker stuck this long is killed and replaced
graceful_timeout = 20  # on SIGTERM (deploys), finish the requests in hand
max_requests = 5000  # recycle workers now and then (jitter, so not all at once)
max_requests_jitter = 500
# Believe X-Forwarded-* only from the local proxy (the app's ProxyFix needs TRUST_PROXY=1 as well).
forwarded_allow_ips = "127.0.0.1,::1"
accesslog = "-"  # stdout and stderr: journald keeps them (one line per request)
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%({x-request-id}o)s"'
limit_request_line = 4094
limit_request_fields = 60
