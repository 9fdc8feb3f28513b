"""The ``kubernetes`` backend: one hardened Jupyter pod per user, on the official client.

- objects.py: every object, built by pure functions (the secure defaults are listed there);
- events.py: what a starting pod says, as a progress message or a terminal failure;
- watch.py: the informer (list + watch, bookmarks, re-list on 410) and the event feed;
- client.py: the client, API failures as messages, a GET to a pod's Jupyter;
- prepull.py: images on the nodes (a pre-pull DaemonSet per image, ready nodes);
- backend.py: :class:`KubernetesBackend`, the shell over the client.

How the gateway reaches a server: at ``<podIP>:8888`` over the cluster network, read from
the informer's cache (no I/O, no table of one process). How the server learns the gateway's
secret: a Secret mounted only into an init container, which copies it into a memory-backed
emptyDir; the server reads it from there and removes it (nextpyter/jupyter/identity.py).
"""

from __future__ import annotations

from .backend import KubernetesBackend

__all__ = ["KubernetesBackend"]
