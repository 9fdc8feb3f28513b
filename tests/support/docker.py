"""What the Docker tests share: the sidecar's environment for the docker backend, and users
whose files belong to the notebook uid."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.stack import Stack

# The repository the pull tests push their own images to (removed at the end).
TEST_REPOSITORY = "nextpyter-test"
UID = 33  # www-data, the owner of Nextcloud's data by default


def docker_env(image: str, docker_host: str, **more: str) -> dict[str, str]:
    """A sidecar's settings for the docker backend on the tests' engine."""
    return {
        "NEXTPYTER_BACKEND": "docker",
        "NEXTPYTER_DOCKER_IMAGE": image,
        "NEXTPYTER_CULL_INTERVAL": "0",
        "DOCKER_HOST": docker_host,
        **more,
    }


def make_user(stack: Stack, user_id: str, files: dict[str, str] | None = None) -> Path:
    """A user's files folder owned by the web server's uid, as Nextcloud leaves it."""
    root = stack.user(user_id, files)
    for path in [root.parent, root, *root.rglob("*")]:
        os.chown(path, UID, UID)
    return root
