"""NextPyter: notebooks next to your Nextcloud files.

``nextpyter.common`` is shared by both services and imports neither;
``nextpyter.pullqueue`` is the pull queue's protocol; ``nextpyter.jupyter`` runs inside
users' Jupyter servers; ``nextpyter.sidecar`` and ``nextpyter.pagletto`` are the two
services, which never import each other.
"""
