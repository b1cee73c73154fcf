# clinic-events: two C11 services (appointment, financial) over Kafka + MongoDB.
#   make deps   install what is missing (apt incl. PostgreSQL, Kafka jars, FerretDB, test venv)
#   make        build both services into build/
#   make run    build and start the whole local system in the foreground
#   make test   build and run every test (unit, integration, e2e)
#   make bench  benchmarks next to their ceilings (table + var/bench/*.json)
#   make bench-json  the JSON step's CPU alone (parse + validate), no stack
#   make chaos  long fault, kill -9, rebalance and abuse scenarios
#   make fuzz   libFuzzer targets, each for FUZZ_SECONDS
#   make soak   SOAK_SECONDS (default 1800) of mixed load: RSS and reconciliation
#   make reconcile   finished appointments vs billings (MONGODB_URI)
#   make load-sample the sample registry (60 physicians, 2,000 patients) into
#                    a running appointment service (APPOINTMENT_URL, TOKEN)
#   make import FILE=...   physicians and patients from NDJSON or CSV, the same way
#   make SANITIZE=1 ...   the same with AddressSanitizer + UndefinedBehaviorSanitizer

CC      ?= cc
Q       := $(if $(V),,@)
BUILD   ?= build
PKGS    := libmongoc-1.0 libbson-1.0 rdkafka jansson

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
               -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
               -Wstrict-prototypes -Wmissing-prototypes -g -O2 -pthread -Icommon
# Bearer JWTs (common/auth.c, auth_jwt.c): libjwt checks signatures, libcrypto
# the key at start and the client ids; jansson (above) reads the tokens' JSON.
PKGS        += libjwt libcrypto
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb -lm -pthread

ifeq ($(SANITIZE),1)
BUILD := build/sanitize
CFLAGS_BASE += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

CFLAGS  := $(CFLAGS_BASE) -I$(BUILD)/gen $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS)

# The version clinic_build_info reports: `git describe`, else the first line of
# a VERSION file, else "dev" (a copy without .git, such as the Docker build).
# `make VERSION=1.2.3` overrides it.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || head -n 1 VERSION 2>/dev/null)

COMMON_SRC := $(wildcard common/*.c)
APPT_SRC   := $(filter-out appointment/main.c,$(wildcard appointment/*.c))
FIN_SRC    := $(filter-out financial/main.c,$(wildcard financial/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
APPT_OBJ   := $(APPT_SRC:%.c=$(BUILD)/obj/%.o)
FIN_OBJ    := $(FIN_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: FORCE all deps run test test-unit test-integration topic bench bench-json chaos fuzz soak reconcile load-sample import clean format
all: $(BUILD)/appointment $(BUILD)/financial $(UNIT_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Rewritten only when the version changes, so that only ops.o is rebuilt then.
# Characters that could break the C string are dropped.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@v=$$(printf '%s' '$(VERSION)' | tr -cd 'A-Za-z0-9._+-'); \
	  printf '#define CLINIC_VERSION "%s"\n' "$${v:-dev}" > $@.tmp; \
	  if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/common/ops.o: $(BUILD)/gen/version.h

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libappointment.a: $(APPT_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libfinancial.a: $(FIN_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The OpenAPI documents are linked into the binaries: proto/ stays the one source.
$(BUILD)/obj/proto/%.o: proto/%
	@mkdir -p $(dir $@)
	$(Q)ld -r -b binary -z noexecstack -o $@ $<

$(BUILD)/appointment: $(BUILD)/obj/appointment/main.o $(BUILD)/obj/proto/appointment.openapi.json.o $(BUILD)/libappointment.a $(BUILD)/libcommon.a
	@echo "  LINK  $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/financial: $(BUILD)/obj/financial/main.o $(BUILD)/obj/proto/financial.openapi.json.o $(BUILD)/libfinancial.a $(BUILD)/libcommon.a
	@echo "  LINK  $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link every module library; the linker only pulls what a suite uses.
$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libappointment.a $(BUILD)/libfinancial.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -Iappointment -Ifinancial $(shell pkg-config --cflags check) $(LDFLAGS) -o $@ $^ \
	  $(shell pkg-config --libs check) $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@bash deploy/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@bash deploy/run-local.sh

topic:
	@bash deploy/topic.sh

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/run.sh

test-unit: all
	@BUILD=$(BUILD) bash tests/run.sh unit

test-integration: all
	@BUILD=$(BUILD) bash tests/run.sh integration

bench: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/bench/run.sh

# The JSON step alone (tests/bench/json_parse.c): ns per parse of a start body
# and an event, on the services' own code; no Kafka, no database.
$(BUILD)/bench/json_parse: tests/bench/json_parse.c $(BUILD)/libappointment.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -Iappointment -Ifinancial $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-json: $(BUILD)/bench/json_parse
	@$(BUILD)/bench/json_parse $(BENCH_JSON_RUNS)

chaos: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) bash tests/run.sh chaos

fuzz: deps
	@bash tests/fuzz/run.sh

soak: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) .deps/venv/bin/python tests/soak.py

reconcile: deps
	@.deps/venv/bin/python deploy/reconcile.py

# deploy/registry.py: PUTs with the records' own ids, so running either twice
# changes nothing. Exit 1 when a row was refused (each printed with its line).
load-sample: deps
	@.deps/venv/bin/python deploy/registry.py load-sample

import: deps
	@test -n "$(FILE)" || { echo 'usage: make import FILE=people.ndjson (or .csv)' >&2; exit 2; }
	@.deps/venv/bin/python deploy/registry.py import "$(FILE)"

format:
	clang-format -i common/*.[ch] appointment/*.[ch] financial/*.[ch] tests/unit/*.c tests/fuzz/*.[ch] tests/bench/*.c

clean:
	rm -rf build
