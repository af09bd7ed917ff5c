# grokbook: two commands on a fresh machine.
#   make book   set up, then build the book into _build/html (chapters executed: the paper's sizes,
#               PROFILE=full, when a GPU is present; on a CPU the book profile: the quick network
#               trained live, the sweeps read from the committed book-scale results/)
#   make test   set up, then run the unit tests, every chapter (quick profile), the book build
#               and the browser check of its pages
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# On a CPU the full profile trains p = 97 networks for minutes per chapter: book unless asked.
PROFILE ?= $(shell $(PYTHON) -c "import torch; print('full' if torch.cuda.is_available() else 'book')" 2>/dev/null || echo book)

.PHONY: setup book test test-full quick-sweeps results check-html demo bench bench-cpu bench-transformer assignments reproduce clean

# torch: keep whatever torch is there (Colab, a GPU box); else take the CPU build 2.13.0.
setup:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev,book,cluster]"
	bash scripts/fetch_mathjax.sh

book: setup $(if $(filter quick,$(PROFILE)),quick-sweeps)
	GROKBOOK_PROFILE=$(PROFILE) jupyter-book build . --builder html -W -n --keep-going

test: setup quick-sweeps
	GROKBOOK_PROFILE=quick $(PYTHON) -m pytest -q tests --nbmake book --nbmake-timeout=300 --durations=12

# Every chapter in the full profile (the paper's sizes): single runs at p = 97 trained live, the sweeps
# from results/ (the book's, with a note, where no full-scale result is committed).  CI runs it after
# `make test`; results/README.md has its time on the 2-core CPU.
test-full: setup
	GROKBOOK_PROFILE=full $(PYTHON) -m pytest -q --nbmake book --nbmake-timeout=1200 --durations=8

# The quick-profile sweeps of chapters 6 and 8 (see results/README.md for the time), trained once into
# results/ so that no notebook cell runs into its time limit; a valid cached one is only loaded.
# (A chapter whose quick sweep is missing or stale trains it itself.)
quick-sweeps:
	GROKBOOK_PROFILE=quick $(PYTHON) -c "import grokbook as gb; [print(gb.get_sweep(n).describe(), flush=True) for n in gb.sweeps.SWEEPS]"

# Every committed result of the book profile (results/README.md has the time on a 2-core CPU:
# about an hour), one process with both threads (faster than two 1-thread workers
# on the Xeon this was measured on; see book/performance.md).  Interrupted? Run it again: it resumes.
results: setup
	$(PYTHON) -m grokbook sweep --all --profile book --workers 1
	$(PYTHON) -m grokbook transformer-diagram --profile book

# Headless Chromium over the built pages (figures load, links resolve); screenshots in _build/screenshots.
check-html:
	$(PYTHON) scripts/check_book_html.py --html _build/html --screenshots _build/screenshots

# The paper's four outcomes from the command line (quick profile, CPU: about a minute).
demo: setup
	$(PYTHON) -m grokbook run --profile quick --wd 0,5.5,15,20

# On a GPU: the engine's paths against the per-run loop (table: book/performance.md), and the
# paper's default setting at full scale.
bench: setup
	mkdir -p _build
	$(PYTHON) benchmarks/bench_engine.py --sizes 68,289 --steps 1000 \
		--paths eager,tf32,bf16,compile+tf32,triton,triton+tf32,triton+bf16 --json _build/bench_engine.json

# On this CPU: every engine path (weight decay, dropout, minibatch, BatchNorm) at K = 1, 9, 36
# against the per-run loop, the machine's matmul peak, and one process against worker processes
# (table: book/performance.md).  About 6 minutes on 2 idle cores.
bench-cpu: setup
	mkdir -p _build
	$(PYTHON) benchmarks/bench_cpu.py --json _build/bench_cpu.json

# On this CPU: chapter 9's transformer, batched (general forward and the one-block fast path)
# against the per-run torch.nn loop (table: book/performance.md).  About 2 minutes.
bench-transformer: setup
	mkdir -p _build
	$(PYTHON) benchmarks/bench_transformer.py --json _build/bench_transformer.json

# Student notebooks (the chapters without their solutions) for coursework: book/instructors.md.
assignments: setup
	$(PYTHON) -m grokbook assign --out assignments

reproduce: setup
	$(PYTHON) scripts/reproduce_default.py --seeds 0,1,2

clean:
	rm -rf _build
