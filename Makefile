# loginas — PGXS build.  `make test` and `make demo` are the two commands a
# newcomer needs; both install what is missing and run on a throwaway cluster.

EXTENSION   = loginas
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" loginas.control)

MODULE_big  = loginas
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
PG_CFLAGS   = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
PG_CPPFLAGS = -I$(srcdir)/src

DATA        = $(sort $(wildcard sql/$(EXTENSION)--*.sql))

# pg_regress suites (sql/<name>.sql -> expected/<name>.out), in order.
REGRESS      = setup settings bindings table_to_view permissions consent sessions tracking reports privileges security log
REGRESS_OPTS = --inputdir=. --load-extension=pgcrypto

PG_CONFIG ?= pg_config
# the objects remember which PostgreSQL they were built for (see below)
EXTRA_CLEAN = .pg-built-for
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else
# no server headers yet: only the targets that install them work
all install installcheck:
	@echo "PostgreSQL 15 server headers are missing: run 'make test' (it installs them) or install postgresql-server-dev-15" >&2; exit 1
endif

# every C file includes the shared header: rebuild them all when it changes
# (after the PGXS include, so that `all` stays the default goal)
$(OBJS): src/loginas.h src/compat.h

# objects built for another PostgreSQL (another PG_CONFIG, or its major
# changed) are rebuilt: .pg-built-for holds the pg_config and version the
# current ones were built with, and changes only when those do
PG_BUILT_FOR := $(PG_CONFIG) $(shell $(PG_CONFIG) --version 2>/dev/null)
.pg-built-for: FORCE
	@[ "$$(cat $@ 2>/dev/null)" = '$(PG_BUILT_FOR)' ] || echo '$(PG_BUILT_FOR)' >$@
$(OBJS): .pg-built-for
.PHONY: FORCE
FORCE:

.PHONY: test test-all-versions test-fresh demo demo-stop deps bench bench-log fuzz memory sanitize

# `make test PG_CONFIG=...` and `make bench PG_CONFIG=...` run against that
# PostgreSQL (its bindir); without PG_CONFIG, against Debian 12's 15
PG_BINDIR_ENV = $(if $(filter command line environment,$(origin PG_CONFIG)),PG_BINDIR="$$($(PG_CONFIG) --bindir)")

deps:
	@bash test/deps.sh

test:
	@$(PG_BINDIR_ENV) bash test/run-tests.sh

# make test on every supported major: 15, then 17, 18 (and 19 where its
# release candidate runs) from private prefixes (test/pg-versions.sh);
# PG_MAJORS="17 18" picks some
test-all-versions:
	@$(if $(PG_MAJORS),PG_MAJORS="$(PG_MAJORS)") bash test/all-versions.sh

# the release check: a fresh Debian 12 root (debootstrap), the repository
# cloned into it, the README's `make test` and `make demo` run there as root
test-fresh:
	@bash test/fresh.sh

demo:
	@bash test/demo.sh start

demo-stop:
	@bash test/demo.sh stop

# the benchmarks: write attribution (issue 3) and the action log (issue 4);
# both append their tables to docs/benchmarks.md
bench:
	@$(PG_BINDIR_ENV) bash test/bench/bench.sh
	@$(PG_BINDIR_ENV) bash test/bench/log_bench.sh

# the action-log benchmark alone (10M log rows: ~30 min, ~7 GB in $TMPDIR or /tmp)
bench-log:
	@$(PG_BINDIR_ENV) bash test/bench/log_bench.sh

# the fuzzer at the issue's size (>= 100k calls; make test runs 3000)
fuzz:
	@LOGINAS_FUZZ_CALLS=$${LOGINAS_FUZZ_CALLS:-120000} LOGINAS_ONLY_TAP=021_fuzz bash test/run-tests.sh

# one backend, 1M assume + tracked-write transactions (make test runs 4000); about an hour
memory:
	@LOGINAS_MEMORY_TXNS=$${LOGINAS_MEMORY_TXNS:-1000000} LOGINAS_ONLY_TAP=022_memory bash test/run-tests.sh

# the C code built with -fsanitize=undefined, run through the suites on a private install
sanitize:
	@bash test/sanitize.sh

# make dist: $(EXTENSION)-$(EXTVERSION).tar.gz, the committed HEAD (git archive)
# under a top-level $(EXTENSION)-$(EXTVERSION)/ directory; it builds anywhere
# with PGXS (make && make install).  Uncommitted changes are not in it.  The
# tarball is checked as shipped: its META.json must agree with its control
# file (test/meta-check.sh), or no tarball is left.
DISTNAME = $(EXTENSION)-$(EXTVERSION)

.PHONY: dist meta-check

meta-check:
	@bash test/meta-check.sh

dist:
	@git diff --quiet HEAD -- || echo "dist: warning: uncommitted changes are not in $(DISTNAME).tar.gz" >&2
	git archive --format=tar.gz --prefix=$(DISTNAME)/ -o $(DISTNAME).tar.gz HEAD
	@tmp=$$(mktemp -d) && tar -xzf $(DISTNAME).tar.gz -C "$$tmp" && \
	  bash "$$tmp/$(DISTNAME)/test/meta-check.sh"; rc=$$?; rm -rf "$$tmp"; \
	  if [ $$rc -ne 0 ]; then rm -f $(DISTNAME).tar.gz; echo "dist: $(DISTNAME).tar.gz removed" >&2; exit $$rc; fi
	@echo "dist: $(DISTNAME).tar.gz (commit $$(git rev-parse --short HEAD))"

# print-VAR: print a make variable (test/run-tests.sh reads REGRESS this way)
print-%:
	@echo '$(strip $($*))'
