# grokbook: two commands on a fresh machine.
#   make book   set up, then execute every chapter once and build the book into _build/html
#               (PROFILE=full, the paper's sizes, when a GPU is present; on a CPU the book profile:
#               the single runs trained live, the sweeps read from the committed results/)
#   make test   set up, then the unit tests, the book as readers get it (make book PROFILE=book:
#               each chapter executed once, its claims and exercises checked, warnings are errors)
#               and the browser check of its pages
SHELL := /bin/bash
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# On a CPU the full profile trains p = 97 networks for minutes per chapter: book unless asked.
PROFILE ?= $(shell $(PYTHON) -c "import torch; print('full' if torch.cuda.is_available() else 'book')" 2>/dev/null || echo book)

.PHONY: setup book pages test test-fast test-full quick-sweeps results colab check-html demo bench bench-cpu bench-transformer assignments reproduce clean

# torch: keep whatever torch is there (Colab, a GPU box); else take the CPU build 2.13.0.
setup:
	$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev,book,cluster]"
	bash scripts/fetch_mathjax.sh
	$(PYTHON) scripts/fetch_vega.py

# Each chapter runs once (scripts/execute_chapters.py: cell times, claims, the exercises' checks);
# the build renders those outputs from the jupyter-cache without executing them again.  A stale
# committed result (StaleResultWarning on stderr) is a warning, so it fails this build.
book: setup pages

pages:
	GROKBOOK_PROFILE=$(PROFILE) $(PYTHON) scripts/execute_chapters.py --profile $(PROFILE)
	mkdir -p _build
	$(PYTHON) scripts/intro_figure.py
	set -o pipefail; GROKBOOK_PROFILE=$(PROFILE) jupyter-book build . --builder html -W -n --keep-going 2>&1 | tee _build/book-build.log

# The README's test command (what .ci/run calls): unit tests, the book (book profile), its pages.
test: setup quick-sweeps
	$(PYTHON) -m pytest -q tests -m "not built_book" --durations=12
	$(MAKE) pages PROFILE=book
	$(PYTHON) -m pytest -q tests -m built_book

# The edit-test loop: the unit tests that train nothing for long (no chapters, no book): minutes.
test-fast:
	$(PYTHON) -m pytest -q tests -m "not slow and not built_book" --durations=8

# Every chapter once in the full profile (the paper's sizes): single runs at p = 97 trained live,
# the sweeps from results/ (the book's, with a note, where no full-scale result is committed).
# CI runs it after `make test`; docs/ci.md has its time on the 2-core CPU.
test-full: setup
	GROKBOOK_PROFILE=full $(PYTHON) scripts/execute_chapters.py --profile full --cache _build/.jupyter_cache-full

# The quick-profile sweeps (the unit tests' small sizes; see results/README.md for the time): a valid
# committed one is only loaded, a missing or stale one trained.
quick-sweeps:
	GROKBOOK_PROFILE=quick $(PYTHON) -c "import grokbook as gb; [print(gb.get_sweep(n).describe(), flush=True) for n in gb.sweeps.SWEEPS]"

# Every committed result of the book profile (results/README.md has the time on a 2-core CPU:
# about an hour), one process with both threads (faster than two 1-thread workers
# on the Xeon this was measured on; see book/performance.md).  Interrupted? Run it again: it resumes.
results: setup
	$(PYTHON) -m grokbook sweep --all --profile book --workers 1
	$(PYTHON) -m grokbook transformer-diagram --profile book

# The chapters' Colab copies (colab/, plain Markdown): the numbers the chapters glued when `make
# test` executed them in the book profile go to results/glue-book.json, then the notebooks are
# written.  Run it after the results or a chapter change (tests/test_colab.py says when).
colab:
	$(PYTHON) -m grokbook.teaching.colab --glue-from _build/chapters/book --write

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
# The student notebooks (assignments/NN_name.ipynb) and their autograders (assignments/autograder/
# NN_name.zip: for python -m grokbook grade --autograder, and for Gradescope), from the chapters'
# text: nothing is executed (seconds).
assignments: setup
	$(PYTHON) -m grokbook assign --out assignments

reproduce: setup
	$(PYTHON) scripts/reproduce_default.py --seeds 0,1,2

clean:
	rm -rf _build
