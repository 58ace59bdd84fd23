"""Drivers: read and converge the world for one release, through the adapters.

``deployments`` runs a release as two Deployments behind the user's Gateway API route or
Ingress; ``ray_serve`` as Serve applications behind the release's router; ``preflight``
checks a cluster before the first release.
"""
