"""The project's images, built here without a registry: a Debian base made from this
machine's apt sources, both targets of the top-level Dockerfile built with buildah, and the
archives loaded into the real node's containerd."""

from .build import Built, build_images, load_images

__all__ = ["Built", "build_images", "load_images"]
