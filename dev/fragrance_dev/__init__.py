"""Development tooling over the operator, the serving and their contract: the local control
plane, a local Ray, the demo. Never shipped in an image."""
