"""Pure builders: the child objects (Deployments, Services, routes) and the Serve plan,
each a function of the spec and the rollout. No I/O here."""
