"""The engine: the code whose numbers a sweep stores (the engine digest covers it).

Tasks and splits (data), the batched MLP (models), the one training loop (loop), the trainer of
MLP runs and its optimizer (train), the tables of a trained sweep (tables), the CPU step (cpu),
the GPU step (kernels), IPR and the analytic solution (fourier), the batched transformer
(transformer), and the per-run loops kept apart as the tests' reference (reference).
Imports only core."""
