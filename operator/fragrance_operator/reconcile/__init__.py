"""One reconcile tick: observe (I/O) → decide (pure) → persist (status, events) → converge."""
