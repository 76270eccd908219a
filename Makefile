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

# Regression tests: test/sql/*.sql against test/expected/*.out, in a
# temporary instance that preloads pg_cron (see test/pg.conf).
TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --temp-config=test/pg.conf --load-extension=pg_cron
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --temp-config=test/pg.conf

PG_CPPFLAGS = -DEXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql $(EXTENSION).control
	cp $< $@

.PHONY: demo test bench
demo:
	bash tools/demo
test:
	bash tools/test
bench:
	bash bench/run

# Every C file includes the shared header.
$(OBJS): src/metrics_refresh.h src/compat.h
