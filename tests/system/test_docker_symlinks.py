"""Symbolic links a notebook makes in its user's files, on the docker backend (issue 13).

A notebook may write anything into the user's files, which are bind-mounted from
Nextcloud's data directory: a link among them is a link on the host too. What the
NextPyter parts do with such links: the container sees only the user's own files, so a
link toward another user's files or toward the host resolves to nothing (or to the
image's own files) inside it; JupyterLab, through the gateway, serves nothing of what a
link points to outside the user's folder; the sidecar never follows a link in building a
user's files folder. What Nextcloud does with the link on the host (its local storage
refuses to follow a link that leaves the user's storage unless localstorage.allowsymlinks
is true) cannot be tested here: no Nextcloud runs on this machine (docs/architecture.md,
"Symbolic links").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from nextpyter.sidecar.paths import PathRejected, user_files_dir
from nextpyter.sidecar.runtime.docker import container_name
from tests.support.docker import UID, docker_env, make_user
from tests.support.stack import Stack, start_stack


@pytest.fixture(scope="module")
def dstack(
    workdir: Path,
    redis_service: Any,
    keys: tuple[Path, Path],
    signing_key: Any,
    docker_engine: tuple[Any, str],
) -> Iterator[Stack]:
    engine, image = docker_engine
    running = start_stack(
        workdir / "docker-symlinks",
        redis_service.address,
        keys[1],
        signing_key,
        **docker_env(
            image,
            engine.tls_url,
            DOCKER_TLS_VERIFY="1",
            DOCKER_CERT_PATH=str(engine.cert_path),
        ),
    )
    yield running
    running.close()


def in_container(client: docker.DockerClient, slug: str, *command: str) -> tuple[int, str]:
    result = client.containers.get(container_name(slug)).exec_run(list(command), user=f"{UID}")
    return result.exit_code, result.output.decode(errors="replace")


def test_links_a_notebook_makes_reach_nothing_of_another_user_or_the_host(
    dstack: Stack, docker_engine: tuple[Any, str]
) -> None:
    client = docker_engine[0].client()
    marker = uuid.uuid4().hex
    bob = make_user(dstack, "bob", {"secret.txt": f"bob's secret {marker}"})
    host_secret = dstack.workdir / f"host-secret-{marker}.txt"
    host_secret.write_text(f"the host's secret {marker}")
    alice = make_user(dstack, "alice", {"a.ipynb": "{}"})
    cookie, launch = dstack.launch("alice")
    assert dstack.wait(launch)["state"] == "ready"
    slug = launch["slug"]
    try:
        # The notebook makes links, with the host's paths and with relative ones.
        for name, target in {
            "to-bob-file": str(bob / "secret.txt"),
            "to-bob-dir": str(bob),
            "to-bob-relative": "../../bob/files/secret.txt",
            "to-host-secret": str(host_secret),
            "to-etc": "/etc",
            "to-passwd": "/etc/passwd",
        }.items():
            code, output = in_container(
                client, slug, "ln", "-s", target, f"/home/jovyan/work/{name}"
            )
            assert code == 0, output
        # Inside the container: none of another user's or the host's files are there.
        for name in ("to-bob-file", "to-bob-relative", "to-host-secret"):
            code, output = in_container(client, slug, "cat", f"/home/jovyan/work/{name}")
            assert code != 0 and marker not in output, (name, output)
        code, output = in_container(client, slug, "ls", "/home/jovyan/work/to-bob-dir/")
        assert marker not in output
        # Through the gateway, JupyterLab's file API serves nothing a link points to
        # outside the user's folder (the container's /etc is the image's, not the host's).
        for name in ("to-bob-file", "to-bob-dir", "to-bob-relative", "to-host-secret"):
            answer = dstack.get(f"/user/{slug}/api/contents/{name}?content=1", cookie)
            assert answer.status_code in {400, 403, 404}, (name, answer.status_code)
            assert marker not in answer.text
        # Links into the container's own /etc show the image's files (Jupyter follows links
        # inside the container): nothing of the host's.
        for name in ("to-etc", "to-passwd"):
            answer = dstack.get(f"/user/{slug}/api/contents/{name}?content=1", cookie)
            assert marker not in answer.text
        # On the host the links are there, in alice's files, as the notebook made them:
        # what follows them is the host's business (Nextcloud refuses, by default).
        assert os.readlink(alice / "to-bob-file") == str(bob / "secret.txt")
        # The sidecar never follows a link to build a user's files folder, so a launch of
        # bob, or of alice again, still mounts each one's own folder.
        assert user_files_dir(dstack.data_dir, "alice") == alice.resolve()
        assert user_files_dir(dstack.data_dir, "bob") == bob.resolve()
        # A launch token's path that names a link opens the link in alice's JupyterLab,
        # which is the container's view: the token path is never a mount source.
        relaunch = dstack.launch("alice")[1]
        assert dstack.wait(relaunch)["state"] == "ready"
        # A user whose files folder is itself a link (made on the host) is refused.
        (dstack.data_dir / "mallory").mkdir()
        (dstack.data_dir / "mallory" / "files").symlink_to(bob)
        with pytest.raises(PathRejected, match="symbolic link"):
            user_files_dir(dstack.data_dir, "mallory")
    finally:
        dstack.backend.stop(slug)
        client.close()
