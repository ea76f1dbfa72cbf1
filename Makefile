# Two commands on a fresh machine: `make run` (simulator) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tools some tests use (they skip, saying so, without them): systemd and shell checks, tmux for the
# terminal simulator, and the distribution's Chromium that the companion page's browser tests drive.
SYSTEM_TOOLS := systemd-analyze:systemd shellcheck:shellcheck tmux:tmux chromium:chromium
# Played when `make run` has no terminal: the daily routine at 60x, started at 1 s, paused at 90 s,
# resumed at 100 s, a zone skipped at 200 s (simulated seconds from the first frame; the test
# suite checks these). Its sessions go to out/state, not to your own history.
DEMO_SCRIPT := 1:press,90:press,100:press,200:double

.PHONY: run test bench screens system-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	@if [ -t 0 ]; then \
		$(BIN)/facepace sim; \
	else \
		rm -rf out && \
		$(BIN)/facepace sim --headless --routine daily --speed 60 --script "$(DEMO_SCRIPT)" \
			--frames out/frames --trace out/trace.jsonl --state out/state && \
		echo "facepace: simulated daily routine done; frames in out/frames, events in out/trace.jsonl"; \
	fi

# Installs missing tools with apt when we are root; otherwise the tests that need them skip.
system-tools:
	@missing=""; for pair in $(SYSTEM_TOOLS); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing:$$missing"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null) \
			|| echo "could not install$$missing; those tests will skip"; \
	elif [ -n "$$missing" ]; then echo "not installed:$$missing (those tests will skip)"; fi

test: $(STAMP) system-tools
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m bench

# The README's pictures of the screens, from the simulator.
screens: $(STAMP)
	$(BIN)/python docs/make_screens.py

clean:
	rm -rf $(VENV) build *.egg-info out
