"""What the chapters call: exercise checks (checks), figures (plots), explorers (Vega-Lite figures that run on the static page), the
chapters' claims (claims), glued numbers (prose), student notebooks (coursework), the generated
pages (pages), assignments and their grading (autograder, grading, grades, transfer, crafted).
May import every layer below."""
