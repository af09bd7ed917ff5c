"""Reading trained networks and histories: pruning by IPR (prune), memorization scores
(memorization), training histories (history), statistics (stats).  Imports engine and core."""
