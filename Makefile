# metrics_refresh: PGXS build.  The version is read from the control file.
EXTENSION = metrics_refresh
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = metrics_refresh
OBJS = src/metrics_refresh.o src/access.o src/refresh.o src/log.o src/monitor.o src/graph.o src/tracking.o src/options.o src/stats.o src/cascade.o \
       src/schedule.o src/worker.o src/util.o

# The install script of the current version is built from sql/$(EXTENSION).sql;
# released versions' scripts (kept as released) and upgrade scripts are
# installed as they are.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(filter-out $(DATA_built),$(wildcard sql/$(EXTENSION)--*.sql))

# Tests (see docs/testing-notes.md).  "make installcheck" runs them against
# the running server that PGHOST/PGPORT/PGUSER name: test/sql/*.sql against
# expected/*.out (pg_regress), the isolation specs test/specs/*.spec
# (pg_isolation_regress), then the TAP tests test/t/*.pl (prove), which start
# servers of their own with the binaries of PG_CONFIG (run them as a user
# that may run initdb, not root).  test/expected is a
# symlink to ../expected: pg_regress on PostgreSQL 15 looks for expected
# output in <inputdir>/expected only (--expecteddir came with 16).  Tests that
# need pg_cron create it, or are skipped where the server cannot run it.
# tools/test runs the same tests in throwaway instances (test/pg.conf).
# A test whose first line is "-- Needs PostgreSQL N or later." runs only on
# those versions (MAJORVERSION comes from PGXS).
TESTS = $(sort $(wildcard test/sql/*.sql))
too_new = $(foreach t,$(TESTS),$(if $(shell sed -n '1s/^-- Needs PostgreSQL \([0-9][0-9]*\) or later\..*/\1/p' $(t) | \
	awk -v v=$(MAJORVERSION) '$$1 > v'),$(t)))
REGRESS = $(patsubst test/sql/%.sql,%,$(filter-out $(too_new),$(TESTS)))
REGRESS_OPTS = --inputdir=test $(if $(filter-out 0,$(testdb_held_by_pg_cron)),--use-existing)
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))
# The test databases are UTF8 with the C locale, whatever the server's default.
ENCODING = UTF8
NO_LOCALE = 1
# Where cron.database_name names the regression database, pg_cron's launcher
# stays connected to it, and pg_regress could not drop it to start afresh (nor
# may it be dropped WITH (FORCE): a terminated launcher does not come back).
# The tests then run in the database as it is (--use-existing), with the
# settings pg_regress gave it when it created it; each test removes what it
# created.  (Asked only when installcheck expands REGRESS_OPTS.)
testdb_held_by_pg_cron = $(shell '$(bindir)/psql' -X -A -t -q -d postgres \
	-c "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = '$(CONTRIB_TESTDB)' AND backend_type = 'pg_cron launcher'" 2>/dev/null)

PG_CPPFLAGS = -DEXTVERSION=\"$(EXTVERSION)\"
# Warnings are errors here and in CI; a distribution build (debian/rules),
# whose compiler may know warnings this one does not, sets WERROR empty.
WERROR ?= -Werror
PG_CFLAGS = -Wall -Wextra $(WERROR) -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The TAP tests' own helpers (test/perl).
PG_PROVE_FLAGS += -I $(srcdir)/test/perl

# As PostgreSQL 16 and later build modules: export only what the server
# looks up by name (src/compat.h marks it before 16).
ifeq ($(GCC),yes)
ifeq ($(shell test '$(MAJORVERSION)' -lt 16 2>/dev/null && echo old),old)
override CFLAGS += -fvisibility=hidden
endif
endif

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql $(EXTENSION).control
	cp $< $@

# The TAP tests alone, exactly as installcheck runs them (PGXS's recipe);
# one of them: make prove_installcheck PROVE_TESTS=test/t/001_standby.pl
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

.PHONY: demo test bench
demo:
	bash tools/demo
test:
	bash tools/test
bench:
	bash bench/run

# Every C file includes the shared header.
$(OBJS): src/metrics_refresh.h src/compat.h
