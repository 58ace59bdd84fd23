"""The local demo: a full canary of the guarded ensemble on one machine (``make demo``)."""
