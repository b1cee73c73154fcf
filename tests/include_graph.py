#!/usr/bin/env python3
"""include_graph: the C tree's dependencies point down only.

Reads every `#include "..."` of common/, appointment/ and financial/ and
exits 1, naming the offending files, when any of these rules is broken:

  1. Directories: common/ includes common/ headers only (never a service's);
     appointment/ and financial/ include their own headers and common/'s,
     never each other's.
  2. Layers: a file (header or source) never includes a header of a higher
     layer than its own module's. A module is foo.h + foo.c (plus the parts
     listed in PARTS, such as http's http_body.c and http_internal.h); every
     module has its layer in LAYERS below, and a module missing there is an
     error too (a new module's place is a decision: make it here). From the
     bottom up:
       0 base     utilities and pure codecs, no I/O (buf, json, uuid, event,
                  clock...)
       1 domain   a service's pure rules (billing, commits)
       2 infra    clients of the outside world and their helpers (mongo,
                  buckets, kafka, the HTTP server, auth, ops)
       3 store    the stores, their query structs, and the descriptor they
                  export (common/store)
       4 request  the pure request validators (appt_request, billing_request):
                  they fill the stores' query structs, so they sit above them
       5 worker   background threads over a store and the broker (outbox,
                  consumer and its parts)
       6 api      what the HTTP handlers share (common/api)
       7 service  the process skeleton (common/service), which runs an api
       8 app      a service's own API module (appt_api, billing_api): it
                  embeds service_app and exports the service_api
                  service_main runs
       9 main     the mains
     Within one layer includes are free, as long as rule 3 holds.
  3. No include cycle between modules (foo.c including bar.h and bar.c
     including foo.h is one).
  4. No two headers share a name (STYLE.md): an include must not depend on
     the order of -I flags, and this script resolves includes by name.

Includes that name no file of the tree (<system> headers, build/gen's
version.h) are not checked. Standard library only.

    python3 tests/include_graph.py [ROOT]     # ROOT: the repo (default: ../)
"""

import os
import re
import sys

DIRS = ("common", "appointment", "financial")

# Which directories a file of each directory may include from.
ALLOWED_DIRS = {
    "common": {"common"},
    "appointment": {"appointment", "common"},
    "financial": {"financial", "common"},
}

LAYER_NAMES = ["base", "domain", "infra", "store", "request", "worker", "api", "service", "app", "main"]

LAYERS = {
    # 0 base
    "common/alloc": "base",
    "common/buf": "base",
    "common/config": "base",
    "common/event": "base",
    "common/http_parse": "base",
    "common/json": "base",
    "common/log": "base",
    "common/metrics": "base",
    "common/money": "base",
    "common/problem": "base",
    "common/procstat": "base",
    "common/query": "base",
    "common/timefmt": "base",
    "common/clock": "base",
    "common/trace": "base",
    "common/uuid": "base",
    "common/worker": "base",
    # 1 domain
    "financial/billing": "domain",
    "financial/commits": "domain",
    "appointment/registry_request": "domain",
    "appointment/registry_cache": "domain",
    "financial/refusals": "domain",
    "financial/billing_fold": "domain",
    "financial/intake": "domain",
    "financial/billing_delay": "base",
    # 2 infra
    "common/auth": "infra",
    "common/bsonread": "infra",
    "common/buckets": "infra",
    "common/docs": "infra",
    "common/http": "infra",
    "common/http_client": "infra",
    "common/kafka": "infra",
    "common/kafka_security": "base",
    "common/mongo": "infra",
    "common/ops": "infra",
    # 3 store
    "common/store": "store",
    "appointment/appt_store": "store",
    "appointment/registry_store": "store",
    "financial/billing_store": "store",
    "financial/day_totals": "store",
    "financial/dead_letters": "store",
    "appointment/appt_finished": "store",
    # 4 request
    "appointment/appt_request": "request",
    "financial/billing_request": "request",
    "financial/dead_letter_request": "request",
    "appointment/appt_finished_request": "request",
    # 5 worker
    "appointment/outbox": "worker",
    "appointment/idem_expiry": "worker",
    "financial/consumer": "worker",
    "financial/dlq": "worker",
    "financial/lag": "worker",
    "financial/replay": "worker",
    "financial/reconcile": "worker",
    # 5 api
    "common/api": "api",
    # 6 service
    "common/service": "service",
    # 7 app
    "appointment/appt_api": "app",
    "appointment/registry_api": "app",
    "financial/billing_api": "app",
    "appointment/appt_finished_api": "app",
    # 8 main
    "appointment/main": "main",
    "financial/main": "main",
}

# Files that belong to another module than their own name says: the parts
# of a module split over several files, and its internal header.
PARTS = {
    "common/mongo_error": "common/mongo",
    "appointment/appt_store_idem": "appointment/appt_store",
    "appointment/registry_check": "appointment/registry_api",
    "common/auth_internal": "common/auth",
    "common/auth_jwt": "common/auth",
    "financial/consumer_internal": "financial/consumer",
    "financial/group": "financial/consumer",
    "financial/pause": "financial/consumer",
    "financial/consumer_state": "financial/consumer",
    "financial/dead_letter_api": "financial/billing_api",
    "financial/replay_job": "financial/replay",
    "financial/replay_internal": "financial/replay",
    "common/http_body": "common/http",
    "common/http_internal": "common/http",
    "common/http_reply": "common/http",
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(path):
    """'common/http_body.c' -> 'common/http'."""
    stem = os.path.splitext(path)[0]
    return PARTS.get(stem, stem)


def read_tree(root):
    """Returns (files: {relpath: [included names]}, headers: {name: [relpaths]})."""
    files, headers = {}, {}
    for d in DIRS:
        base = os.path.join(root, d)
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            if not name.endswith((".c", ".h")):
                continue
            rel = d + "/" + name
            with open(os.path.join(base, name), encoding="utf-8", errors="replace") as f:
                files[rel] = INCLUDE.findall(f.read())
            if name.endswith(".h"):
                headers.setdefault(name, []).append(rel)
    return files, headers


def find_cycle(graph):
    """A cycle of graph ({node: {succ: why}}) as [n0, n1, ..., n0], or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    for start in sorted(graph):
        if color[start] != WHITE:
            continue
        color[start] = GREY
        path = [start]
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = BLACK
                stack.pop()
            elif color.get(nxt, BLACK) == GREY:
                ring = path[path.index(nxt):]
                i = ring.index(min(ring))  # the same cycle reads the same way
                return ring[i:] + ring[:i] + [ring[i]]
            elif color.get(nxt) == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def check(root):
    """Returns (problems, summary): a list of lines, empty when the tree is fine."""
    files, headers = read_tree(root)
    problems = []
    for name, paths in sorted(headers.items()):
        if len(paths) > 1:
            problems.append("namesake headers: %s (include \"%s\" depends on -I order)"
                            % (", ".join(paths), name))
    modules = {module_of(p) for p in files}
    for m in sorted(modules - set(LAYERS)):
        problems.append("%s: no layer; give it one in LAYERS of tests/include_graph.py" % m)

    graph = {m: {} for m in modules}
    nedges = 0
    for path, includes in sorted(files.items()):
        src_dir, src_mod = path.split("/")[0], module_of(path)
        for name in includes:
            targets = headers.get(name)
            if not targets:
                continue  # a system or generated header
            target = targets[0]
            dst_dir, dst_mod = target.split("/")[0], module_of(target)
            if dst_dir not in ALLOWED_DIRS[src_dir]:
                problems.append("%s includes %s: %s/ must not include %s/ headers"
                                % (path, target, src_dir, dst_dir))
            if src_mod in LAYERS and dst_mod in LAYERS:
                lo, hi = LAYERS[src_mod], LAYERS[dst_mod]
                if LAYER_NAMES.index(hi) > LAYER_NAMES.index(lo):
                    problems.append("%s (layer %s) includes %s (layer %s): dependencies "
                                    "point down only" % (path, lo, target, hi))
            if dst_mod != src_mod:
                graph[src_mod].setdefault(dst_mod, "%s includes %s" % (path, target))
                nedges += 1
    cycle = find_cycle(graph)
    if cycle:
        why = "; ".join(graph[a][b] for a, b in zip(cycle, cycle[1:]))
        problems.append("include cycle: %s (%s)" % (" -> ".join(cycle), why))
    summary = "%d files, %d modules, %d includes between modules" % (
        len(files), len(modules), nedges)
    return problems, summary


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems, summary = check(root)
    for p in problems:
        print("include_graph: " + p)
    if problems:
        print("include_graph: FAILED (%s)" % summary)
        return 1
    print("include_graph: ok (%s; no cycle, layers and directories respected)" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
