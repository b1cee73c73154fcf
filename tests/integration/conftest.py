"""pytest wiring for tests/integration: every fixture and hook lives in stack.py.

Fixtures: stack (session: Kafka + PostgreSQL + FerretDB), dbname, service_env,
start_service, topic, kafka_cluster (3 brokers, per module). See stack.py.

Another test folder gets the same harness (and the same session stack) with a
conftest.py of its own:

    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
    from stack import *  # noqa: F401,F403
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import (  # noqa: E402,F401
    _stack_guard,
    dbname,
    kafka_cluster,
    pytest_runtest_makereport,
    pytest_sessionfinish,
    service_env,
    stack,
    start_service,
    topic,
)
