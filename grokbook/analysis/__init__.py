"""Reading trained networks and histories: pruning by IPR (prune), memorization scores
(memorization), ensembles of subset models (ensembles), training histories (history),
statistics (stats).  Imports engine and core."""
