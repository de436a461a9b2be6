# Set-up and the two entry points of the README: `make demo` and `make test`.
# The venv is created at the repo root on first use; torch is installed first, pinned, so that
# pip takes the local CPU wheel instead of pulling CUDA packages.
VENV ?= .venv
PY := $(VENV)/bin/python
R1 := $(VENV)/bin/r1track
STAMP := $(VENV)/.r1track-installed
DEMO := .cache/demo

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing r1track and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@$(PY) -m pip install torch==2.13.0 > $(VENV)/install.log 2>&1 \
		&& $(PY) -m pip install -e '.[test]' >> $(VENV)/install.log 2>&1 \
		|| (grep -v "WARNING: Location" $(VENV)/install.log | tail -n 30; exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	@test -f $(DEMO)/tiny-model/config.json || $(R1) dev tiny-model $(DEMO)/tiny-model
	@$(R1) dev synth-video $(DEMO)/demo.mp4
	@echo "NOTE: no trained model is bundled yet: this demo runs an untrained, randomly initialised"
	@echo "      tiny Qwen2.5-VL, so every answer is noise and the box stays where it started."
	$(R1) track $(DEMO)/demo.mp4 --bbox "$$(head -n 1 $(DEMO)/demo.groundtruth.txt)" \
		--model $(DEMO)/tiny-model --out demo_out
	@echo "overlay: demo_out/overlay.mp4  boxes: demo_out/boxes.txt  per-frame records: demo_out/track.jsonl"

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/frame_overhead.py

clean:
	rm -rf $(VENV) .cache demo_out
