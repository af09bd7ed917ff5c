"""What the chapters call: exercise checks (checks), figures (plots), explorers (Vega-Lite figures that run on the static page), the
chapters' claims (claims), glued numbers (prose), student notebooks and grading (coursework), the
generated pages (pages).  May import every layer below."""
