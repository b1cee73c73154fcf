"""The test harness of clinic-events: real processes, nothing mocked.

Importable as `harness` by every suite (pytest.ini: pythonpath = tests) and
by the scripts run outside pytest (PYTHONPATH=tests, see tests/README.md).
The common helpers are re-exported here, so a test writes
`from harness import http, wait_until, Service`.

Modules:
  paths          ROOT, PROTO, deploy scripts, build_dir(), api_source(), SERVICES
  util           free_port(s), port_open, wait_until, iso, now, ms, rss_kib
  http_client    http() and its Response, metric, wait_ready, assert_problem
  kafka_client   create_topic, produce, consume, end_offsets, committed, wait_drained
  mongo          mongo_client, insert_billing
  contracts      every response and event a test sees checked against proto/
  openapi_check  ... against the OpenAPI documents
  event_check    ... against the event schema and CloudEvents headers
  processes      Kafka, Postgres, FerretDB (deploy/'s scripts), Service, help_vars,
                 the services' test settings (APPOINTMENT_ENV, FINANCIAL_ENV, *_env)
  session        Stack: the session's Kafka + PostgreSQL + FerretDB (var/test/<run>/)
  state          the session's stack and current test, shared by the modules above
  fixtures       pytest fixtures and hooks (registered by tests/conftest.py)
  abuse          hostile HTTP requests over raw sockets (test_abuse, test_abuse_full, test_leaks)
  chaos          the chaos scenarios' and the soak's client, reconciliation and results
  events         appointment.finished values and headers a test produces itself (event, ce_headers, publish)
  summaries      GET /billings/summary vs a recount of the billings and vs the events billed
                 (test_summary_totals, test_chaos_summary_backlog)
  dead_letters   financial's dead-letter admin API (test tokens, admin, all_dead_letters, replay_job)
  schemathesis_run  property-based API runs (test_schemathesis, test_schemathesis_full)
  reconcile      deploy/reconcile.py (what `make reconcile` runs), loaded from its file
  tls            a CA and certificates made with the openssl command line (test_secured_kafka)
  registry       deploy/registry.py (make load-sample, make import), loaded from its file;
                 has_registry(): /physicians in the appointment OpenAPI document

Only `fixtures` imports pytest; `schemathesis_run` imports schemathesis.
"""

from harness.contracts import SERVICE_BY_PORT, VIOLATIONS
from harness.http_client import UP_STATES, Response, assert_problem, http, metric, wait_ready
from harness.kafka_client import (Message, committed, consume, create_topic, end_offsets, produce,
                                   set_topic_config, wait_drained)
from harness.mongo import insert_billing, insert_billings, mongo_client
from harness.paths import (FERRETDB_SH, KAFKA_SH, POSTGRES_SH, PROTO, ROOT, SERVICES, TEST_VAR,
                           api_source, build_dir)
from harness.processes import FerretDB, Kafka, Postgres, Service, help_vars, pg_bin, tail
from harness.session import Stack, get_stack, remove_run_dir, shutdown_stack
from harness.util import free_port, free_ports, iso, ms, now, port_open, rss_kib, wait_until

__all__ = [
    # paths
    "ROOT", "PROTO", "KAFKA_SH", "FERRETDB_SH", "POSTGRES_SH", "TEST_VAR", "SERVICES",
    "api_source", "build_dir",
    # small helpers
    "free_port", "free_ports", "port_open", "wait_until", "iso", "now", "ms", "rss_kib",
    # clients
    "http", "Response", "metric", "wait_ready", "UP_STATES", "assert_problem",
    "Message", "consume", "produce", "set_topic_config", "create_topic", "end_offsets", "committed",
    "wait_drained",
    "mongo_client", "insert_billing", "insert_billings",
    # contracts
    "SERVICE_BY_PORT", "VIOLATIONS",
    # processes and the session
    "Kafka", "Postgres", "FerretDB", "Service", "help_vars", "pg_bin", "tail",
    "Stack", "get_stack", "shutdown_stack", "remove_run_dir",
]
