"""GPU assignment as pure logic (gpus.choose, the inventory, the refusal's words) and the
container spec naming the assigned devices."""

from __future__ import annotations

from pathlib import Path

from docker.types import DeviceRequest

from nextpyter.sidecar.config import DockerSettings
from nextpyter.sidecar.gpus import Holding, choose, parse_inventory, refusal
from nextpyter.sidecar.runtime import ServerSpec
from nextpyter.sidecar.runtime.docker_spec import LABEL, build_container_spec
from nextpyter.sidecar.runtime.local import build_process_spec

FOUR = ("0", "1", "2", "3")


def test_free_devices_are_given_by_name_and_never_twice() -> None:
    assert choose(FOUR, {}, 2, shared=False) == ["0", "1"]
    held = {"ann": Holding(("0", "1"), False)}
    assert choose(FOUR, held, 2, shared=False) == ["2", "3"]
    assert choose(FOUR, held | {"bob": Holding(("2",), False)}, 2, shared=False) is None


def test_one_gpu_two_users_the_second_is_refused_with_words() -> None:
    held = {"ann": Holding(("0",), False)}
    assert choose(("0",), held, 1, shared=False) is None
    problem = refusal(("0",), 1)
    assert problem.status == 409 and problem.code == "gpus-in-use"
    assert problem.detail == "The GPU is in use; try again later or pick a CPU profile."
    assert refusal(FOUR, 1).detail == (
        "All 4 GPUs are in use; try again later or pick a CPU profile."
    )
    assert "asks for 8 GPUs" in refusal(FOUR, 8).detail


def test_sharing_only_between_profiles_that_say_so() -> None:
    sharing = {"ann": Holding(("0",), True), "cat": Holding(("0",), True)}
    exclusive = {"bob": Holding(("0",), False)}
    assert choose(("0",), sharing, 1, shared=True) == ["0"]
    assert choose(("0",), sharing, 1, shared=False) is None  # an exclusive one never shares
    assert choose(("0",), exclusive, 1, shared=True) is None  # nor joins an exclusive one
    # Free devices first, then the least shared.
    two = {"ann": Holding(("0",), True), "cat": Holding(("0",), True), "dan": Holding(("1",), True)}
    assert choose(("0", "1", "2"), two, 2, shared=True) == ["2", "1"]


def test_devices_outside_the_inventory_are_ignored() -> None:
    assert choose(("0",), {"old": Holding(("7",), False)}, 1, shared=False) == ["0"]


def test_the_inventory_setting() -> None:
    assert parse_inventory("") == ()
    assert parse_inventory(" 0, 1,1,GPU-abc ") == ("0", "1", "GPU-abc")
    assert parse_inventory("auto", lambda: ["0", "1"]) == ("0", "1")


SPEC = ServerSpec(
    user_id="ann", slug="ann", profile="gpu", files_dir=Path("/data/ann/files"), secret="s",
    image="x", gpu=2, gpu_ids=("1", "3"),
)  # fmt: skip


def test_the_container_names_its_devices_and_labels_them() -> None:
    spec = build_container_spec(SPEC, DockerSettings(image="x"), Path("/r"), Path("/s"), "i", 0.0)
    assert spec["device_requests"] == [DeviceRequest(device_ids=["1", "3"], capabilities=[["gpu"]])]
    assert spec["labels"][LABEL + "gpus"] == "1,3"


def test_the_local_server_sees_only_its_devices() -> None:
    _, env = build_process_spec(SPEC, Path("/run/x"), "python", "m")
    assert env["CUDA_VISIBLE_DEVICES"] == "1,3"
    _, env = build_process_spec(
        ServerSpec("ann", "ann", "p", Path("/f"), "s"), Path("/run/x"), "python", "m"
    )
    assert "CUDA_VISIBLE_DEVICES" not in env
