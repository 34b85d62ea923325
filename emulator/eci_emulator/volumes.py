"""Volumes and volume mounts: their checks on CreateContainerGroup / UpdateContainerGroup, and their views.

Sources: the CreateContainerGroup and UpdateContainerGroup API references (the parameter descriptions), the
ECI user guide "Mount a ConfigFile volume" and the ECI limits page. What they say, rule by rule:

- Volume.N.Type: EmptyDirVolume, NFSVolume, ConfigFileVolume, FlexVolume, HostPathVolume ("only for
  allow-listed users"; the emulator cannot know the list and accepts it) and DiskVolume. UpdateContainerGroup's
  reference lists EmptyDirVolume, ConfigFileVolume, NFSVolume, FlexVolume and HostPathVolume, the last "not
  yet open", and it has no DiskVolume.* parameters: an update that sends a DiskVolume or a HostPathVolume is
  refused.
- A group holds at most 20 volumes (the limits page).
- ConfigFileToPath.N.Content is the file's content encoded in Base64; a file holds at most 32 KB and the files
  of one volume at most 60 KB together (the user guide). Whether the limits count the decoded bytes or the
  Base64 text is not said: the emulator counts the decoded bytes (the file as the container sees it).
  ConfigFileToPath.N.Path is relative to the mount directory (subdirectories allowed).
- ConfigFileToPath.N.Mode and ConfigFileVolume.DefaultMode are Integers described as "four-digit octal"
  numbers (the example is 0644); Terraform's ECI scaling configuration sends `777` for such a field. So the
  value is written in octal digits: the emulator takes 1 to 4 octal digits up to 0777 (`0644`, `644`), shows
  them as four digits (`0644`), and refuses what is not octal (`493`, the decimal of 0755); note that a
  decimal whose digits are all octal (`420` for 0644) cannot be told apart and reads as 0420. A file without
  Mode takes DefaultMode; without either, the emulator's choice is Kubernetes's 0644 (the reference gives no
  default). Neither is an UpdateContainerGroup parameter: a
  ConfigFileVolume sent again by an update under the same name keeps the DefaultMode it was created with, and
  its files keep their Mode by Path (the emulator's choice; the reference is silent).
- ConfigFileVolume.DefaultModel is what aliyun-python-sdk-eci 1.3.3 sends for DefaultMode (a misspelling the
  reference does not have): refused by name, so that a client cannot believe its mode was set.
- NFSVolume.Server and Path, DiskVolume.DiskId, FlexVolume.Driver, HostPathVolume.Path are required; a
  volume's sub-parameters must be those of its Type. FlexVolume.Options is a JSON object. DiskVolume.DiskSize
  and FsType: the reference gives GiB and the example xfs, no range or list; the emulator takes 1 to 32768 GiB
  (the largest disk FlexVolume's volumeSize names) and ext3, ext4, xfs or vfat (FlexVolume's list for disks).
- EmptyDirVolume.SizeLimit is a quantity: Create's text says GiB (example 2), Update's a value with a unit
  (example 256Mi); the emulator takes both forms (digits, an optional fraction, an optional Kubernetes unit).
- VolumeMount.N.MountPath is a directory in the container and SubPath a sub-directory of the volume: the
  emulator's choices where the reference is silent are an absolute MountPath, used once per container, and a
  relative SubPath without `..` (Kubernetes's rules). Volume names: a DNS label, unique within the group.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from eci_emulator import errors
from eci_emulator.validation import DNS_LABEL, Reader, check_count

VOLUME_TYPES = (
    "EmptyDirVolume",
    "NFSVolume",
    "ConfigFileVolume",
    "DiskVolume",
    "FlexVolume",
    "HostPathVolume",
)
UPDATABLE_VOLUME_TYPES = ("EmptyDirVolume", "ConfigFileVolume", "NFSVolume", "FlexVolume")
MAX_VOLUMES = 20
MAX_CONFIG_FILE_BYTES = 32 * 1024
MAX_CONFIG_VOLUME_BYTES = 60 * 1024
DEFAULT_FILE_MODE = "0644"
MAX_DISK_GIB = 32768
DISK_FS_TYPES = frozenset({"ext3", "ext4", "xfs", "vfat"})
_MODE = re.compile(r"0?[0-7]{1,3}")
_QUANTITY = re.compile(r"(\d+(\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")


# ---- checks -------------------------------------------------------------------------------------------


def check_volumes(params: Reader, create: bool) -> tuple[dict[str, Any], ...]:
    """Check every Volume.N of a request; returns them as sent (nested)."""
    names: dict[str, str] = {}
    for volume in params.items("Volume"):
        name = volume.required("Name")
        if not DNS_LABEL.fullmatch(name):
            raise errors.invalid_parameter(
                f"The parameter {volume.name('Name')} ({name!r}) must be 1-63 lower-case letters, digits or "
                "hyphens, starting and ending with a letter or digit."
            )
        if name in names:
            raise errors.invalid_parameter(
                f"The volume name {name!r} is given twice: {names[name]} and {volume.name('Name')}."
            )
        names[name] = volume.name("Name")
        kind = volume.required("Type")
        if not create and kind not in UPDATABLE_VOLUME_TYPES:
            raise errors.invalid_parameter(
                f"The parameter {volume.name('Type')} ({kind}) cannot be sent to UpdateContainerGroup, which "
                f"takes volumes of Type {', '.join(UPDATABLE_VOLUME_TYPES)}; only CreateContainerGroup "
                f"sets a {kind}."
            )
        for other in VOLUME_TYPES:
            if other != kind and volume.has(other):
                raise errors.invalid_parameter(
                    f"The parameter {volume.sub(other).first_name()} does not apply to a volume of Type "
                    f"{kind} ({volume.name('Type')})."
                )
        _CHECKS[kind](volume.sub(kind))
    volumes = tuple(params.node.get("Volume", []))
    check_count("Volume.N", len(volumes), MAX_VOLUMES, "volumes")
    return volumes


def check_mounts(container: Reader) -> None:
    """A container's VolumeMount.N: name, absolute MountPath (once each), relative SubPath."""
    paths: dict[str, str] = {}
    for mount in container.items("VolumeMount"):
        mount.required("Name")
        path = absolute_path(mount, "MountPath", required=True)
        assert path is not None
        if path in paths:
            raise errors.invalid_parameter(
                f"The parameter {mount.name('MountPath')} ({path!r}) repeats {paths[path]}: a container "
                "mounts one volume at a path."
            )
        paths[path] = mount.name("MountPath")
        relative_path(mount, "SubPath")


def absolute_path(reader: Reader, key: str, required: bool = False) -> str | None:
    value = reader.required(key) if required else reader.text(key)
    if value is not None and not value.startswith("/"):
        raise errors.invalid_parameter(
            f"The parameter {reader.name(key)} ({value!r}) must be an absolute path (starting with /)."
        )
    return value


def relative_path(reader: Reader, key: str, required: bool = False) -> str | None:
    value = reader.required(key) if required else reader.text(key)
    if value and (value.startswith("/") or ".." in value.split("/")):
        raise errors.invalid_parameter(
            f"The parameter {reader.name(key)} ({value!r}) must be a relative path without '..'."
        )
    return value


def _check_empty_dir(volume: Reader) -> None:
    size_limit = volume.text("SizeLimit")
    if size_limit is not None and not _QUANTITY.fullmatch(size_limit):
        raise errors.invalid_parameter(
            f"The parameter {volume.name('SizeLimit')} ({size_limit!r}) must be a size such as 2 (GiB), "
            "256Mi or 2Gi."
        )


def _check_nfs(volume: Reader) -> None:
    volume.required("Server")
    absolute_path(volume, "Path", required=True)


def _check_config_file(volume: Reader) -> None:
    if volume.has("DefaultModel"):
        raise errors.invalid_parameter(
            f"The parameter {volume.name('DefaultModel')} is a misspelling (aliyun-python-sdk-eci 1.3.3 sends "
            "it); the parameter is Volume.N.ConfigFileVolume.DefaultMode."
        )
    _check_mode(volume, "DefaultMode")
    paths: dict[str, str] = {}
    total = 0
    for item in volume.items("ConfigFileToPath"):
        path = relative_path(item, "Path", required=True)
        assert path is not None
        if path in paths:
            raise errors.invalid_parameter(
                f"The parameter {item.name('Path')} ({path!r}) repeats {paths[path]}: one file per path."
            )
        paths[path] = item.name("Path")
        size = len(_decoded(item))
        if size > MAX_CONFIG_FILE_BYTES:
            raise errors.invalid_parameter(
                f"The parameter {item.name('Content')} holds {size} bytes (decoded); a configuration file "
                f"holds at most {MAX_CONFIG_FILE_BYTES} bytes (32 KB)."
            )
        total += size
        _check_mode(item, "Mode")
    if total > MAX_CONFIG_VOLUME_BYTES:
        raise errors.invalid_parameter(
            f"The files of {volume.path} hold {total} bytes together (decoded); the files of one "
            f"ConfigFileVolume hold at most {MAX_CONFIG_VOLUME_BYTES} bytes (60 KB)."
        )


def _check_mode(reader: Reader, key: str) -> None:
    mode = reader.text(key)
    if mode is not None and not _MODE.fullmatch(mode):
        raise errors.invalid_parameter(
            f"The parameter {reader.name(key)} must be a file mode in octal digits from 0000 to 0777, such as "
            f"0644, not {mode!r}."
        )


def _decoded(item: Reader) -> bytes:
    content = item.text("Content", required=True)
    assert content is not None
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        shown = content if len(content) <= 40 else content[:40] + "..."
        raise errors.invalid_parameter(
            f"The parameter {item.name('Content')} must be the file's content encoded in Base64; {shown!r} is "
            "not Base64."
        ) from None


def _check_disk(volume: Reader) -> None:
    disk_id = volume.required("DiskId")
    if not disk_id.startswith("d-"):
        raise errors.invalid_parameter(
            f"The parameter {volume.name('DiskId')} ({disk_id!r}) must be a disk id such as d-2ze0123."
        )
    _check_disk_fs_type(volume)
    volume.integer("DiskSize", 1, MAX_DISK_GIB)


def _check_disk_fs_type(volume: Reader) -> None:
    fs_type = volume.text("FsType")
    if fs_type is not None and fs_type not in DISK_FS_TYPES:
        raise errors.invalid_parameter(
            f"The parameter {volume.name('FsType')} must be one of {', '.join(sorted(DISK_FS_TYPES))}, "
            f"not {fs_type!r}."
        )


def _check_flex(volume: Reader) -> None:
    if volume.required("Driver") == "alicloud/disk":
        _check_disk_fs_type(volume)
    options = volume.text("Options")
    if options is not None:
        try:
            parsed = json.loads(options)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise errors.invalid_parameter(
                f"The parameter {volume.name('Options')} must be a JSON object, such as "
                '{"volumeId":"d-2ze0123","performanceLevel":"PL1"}.'
            )


def _check_host_path(volume: Reader) -> None:
    absolute_path(volume, "Path", required=True)


_CHECKS = {
    "EmptyDirVolume": _check_empty_dir,
    "NFSVolume": _check_nfs,
    "ConfigFileVolume": _check_config_file,
    "DiskVolume": _check_disk,
    "FlexVolume": _check_flex,
    "HostPathVolume": _check_host_path,
}


# ---- updates ------------------------------------------------------------------------------------------


def updated_volumes(
    held: Sequence[Mapping[str, Any]], sent: Sequence[Mapping[str, Any]], incremental: bool
) -> tuple[dict[str, Any], ...]:
    """The group's volumes after an update that sent `sent` (already checked).

    RenewUpdate: the list sent, after the disk volumes held (an update cannot send one, so it cannot remove
    one either). IncrementalUpdate: the volumes held, each replaced by the one sent under its name, then the
    new ones. A ConfigFileVolume sent under a held one's name keeps its create-only modes.
    """
    by_name = {str(volume["Name"]): volume for volume in held}
    kept: list[dict[str, Any]] = []
    for index, volume in enumerate(sent, start=1):
        before = by_name.get(str(volume["Name"]))
        if before is not None and before["Type"] == "DiskVolume":
            raise errors.invalid_parameter(
                f"The parameter Volume.{index}.Name ({volume['Name']!r}) names a DiskVolume of the group, which "
                "UpdateContainerGroup cannot change."
            )
        kept.append(_with_held_modes(volume, before))
    if incremental:
        merged = {name: dict(volume) for name, volume in by_name.items()}
        merged.update((str(volume["Name"]), volume) for volume in kept)
        result = tuple(merged.values())
    else:
        result = (*(dict(volume) for volume in held if volume["Type"] == "DiskVolume"), *kept)
    check_count("Volume.N", len(result), MAX_VOLUMES, "volumes")
    return result


def _with_held_modes(sent: Mapping[str, Any], held: Mapping[str, Any] | None) -> dict[str, Any]:
    result = copy.deepcopy(dict(sent))
    if held is None or held["Type"] != "ConfigFileVolume" or sent["Type"] != "ConfigFileVolume":
        return result
    held_config = held.get("ConfigFileVolume", {})
    config = result.setdefault("ConfigFileVolume", {})
    if "DefaultMode" in held_config:
        config["DefaultMode"] = held_config["DefaultMode"]
    held_modes = {
        item.get("Path"): item["Mode"] for item in held_config.get("ConfigFileToPath", []) if "Mode" in item
    }
    for item in config.get("ConfigFileToPath", []):
        if item.get("Path") in held_modes:
            item["Mode"] = held_modes[item.get("Path")]
    return result


# ---- views --------------------------------------------------------------------------------------------


def config_files(volume: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A ConfigFileVolume's files: Path, Content (decoded UTF-8 text, None when not text), ContentBase64 (as
    sent) and Mode (its own, else the volume's DefaultMode, else 0644)."""
    config = volume.get("ConfigFileVolume", {})
    default_mode = _four_digits(config.get("DefaultMode")) or DEFAULT_FILE_MODE
    files = []
    for item in config.get("ConfigFileToPath", []):
        encoded = str(item.get("Content", ""))
        try:
            text: str | None = base64.b64decode(encoded).decode("utf-8")
        except UnicodeDecodeError:
            text = None
        files.append(
            {
                "Path": item.get("Path", ""),
                "Content": text,
                "ContentBase64": encoded,
                "Mode": _four_digits(item.get("Mode")) or default_mode,
            }
        )
    return files


def _four_digits(mode: str | None) -> str | None:
    """A mode as sent (octal digits, checked) written as four octal digits: 644 -> 0644."""
    return None if mode is None else f"{int(mode, 8):04o}"


def volume_view(volume: Mapping[str, Any]) -> dict[str, Any]:
    """One volume as the group holds it: Name, Type, the Type's settings (typed) and the raw Parameters."""
    kind = str(volume["Type"])
    settings: Mapping[str, Any] = volume.get(kind, {})
    typed: dict[str, Any]
    if kind == "ConfigFileVolume":
        typed = {"DefaultMode": _four_digits(settings.get("DefaultMode")), "Files": config_files(volume)}
    elif kind == "EmptyDirVolume":
        typed = {"Medium": settings.get("Medium", ""), "SizeLimit": settings.get("SizeLimit", "")}
    elif kind == "NFSVolume":
        typed = {
            "Server": settings.get("Server", ""),
            "Path": settings.get("Path", ""),
            "ReadOnly": settings.get("ReadOnly") == "true",
        }
    elif kind == "DiskVolume":
        size = settings.get("DiskSize")
        typed = {
            "DiskId": settings.get("DiskId", ""),
            "FsType": settings.get("FsType", ""),
            "DiskSize": None if size is None else int(size),
        }
    elif kind == "FlexVolume":
        typed = {
            "Driver": settings.get("Driver", ""),
            "FsType": settings.get("FsType", ""),
            "Options": json.loads(settings.get("Options") or "{}"),
        }
    else:
        typed = {"Path": settings.get("Path", ""), "Type": settings.get("Type", "")}
    return {"Name": volume["Name"], "Type": kind, kind: typed, "Parameters": copy.deepcopy(dict(volume))}


def mount_view(mount: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Name": mount.get("Name", ""),
        "MountPath": mount.get("MountPath", ""),
        "SubPath": mount.get("SubPath", ""),
        "ReadOnly": mount.get("ReadOnly") == "true",
        "MountPropagation": mount.get("MountPropagation", "None"),
    }


def mounted_files(
    mounts: Iterable[Mapping[str, Any]], volumes: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The configuration files a container sees, by absolute path: the files of each ConfigFileVolume it
    mounts, under MountPath (with SubPath, only that file or directory of the volume, at MountPath)."""
    files: dict[str, dict[str, Any]] = {}
    for mount in mounts:
        volume = volumes.get(str(mount.get("Name")))
        if volume is None or volume["Type"] != "ConfigFileVolume":
            continue
        mount_path = str(mount.get("MountPath", ""))
        sub_path = str(mount.get("SubPath", "")).strip("/")
        for item in config_files(volume):
            path = str(item["Path"])
            if not sub_path:
                target = f"{mount_path.rstrip('/')}/{path}"
            elif path == sub_path:
                target = mount_path
            elif path.startswith(sub_path + "/"):
                target = f"{mount_path.rstrip('/')}/{path[len(sub_path) + 1 :]}"
            else:
                continue
            files[target] = {
                "Volume": volume["Name"],
                "Path": path,
                "Content": item["Content"],
                "ContentBase64": item["ContentBase64"],
                "Mode": item["Mode"],
                "ReadOnly": mount.get("ReadOnly") == "true",
            }
    return files
