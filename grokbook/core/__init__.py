"""The bottom layer: what a run is and its validators (settings), every size of every profile
(profiles), the paper's phase rules (phases).  Imports nothing else of grokbook."""
