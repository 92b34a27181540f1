"""Reading a dataset stored as WebDataset shards (``sdd_core.data.shard_index``) by sample number.

``ShardFiles`` finds a split's shards (``fetch(key, sha256)``, the service's node cache, or the
index's folder) and reads each shard's tar headers once per process into a member table: sample
``j`` of the shard is its image's offset, size and extension and its class index. An image is then
one ``pread`` at its offset: no tar scan per item, and any process (a DataLoader worker, forked)
reads any sample. Open files and tables are per process (a forked worker starts its own).

``ShardedImages`` is the map-style dataset of one split: sample ``i`` lies in the shard whose
cumulative count passes ``i``, and it is decoded and transformed as ``image_folder``'s
``ImageFileDataset`` decodes the same file (``image_bytes``). A shard that is missing, shorter or
longer than the index says, or not a tar of the index's samples raises a ``DataError`` naming it.
A fetched shard is checked against its SHA-256 by the fetcher; a shard read from the index's folder
is checked by its size and its structure (hashing a whole dataset per process would cost more than
reading it).
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
import tarfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import Dataset

from sdd_core.data.image_bytes import rgb_image, rgb_tensor
from sdd_core.data.image_files import IMAGE_EXTENSIONS
from sdd_core.data.shard_index import LABEL_EXTENSION, ShardIndex, SplitShards
from sdd_core.errors import DataError

FetchShard = Callable[[str, str], Path]
"""(shard key, its SHA-256) -> a local file with its bytes (``TrainOptions.fetch_shard``), which
stays readable while the run uses it; each process fetches a shard once (again only if the file
is gone when it reopens it)."""

INDEX_FILE = "index.json"
"""A sharded dataset's index beside its shards (keys relative to its folder)."""

OPEN_SHARDS = 64
"""Shard files each process keeps open (least recently used closed first)."""

_IMAGE_EXTENSIONS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
_TAR_FAILURES = (tarfile.TarError, EOFError, OSError, ValueError, UnicodeDecodeError)
_MEMBER_NAME = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # (key, extension), as WebDataset splits a name


def read_index(path: Path) -> ShardIndex:
    """The index at ``path``; DataError naming the file when it is missing or unreadable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"shard index {path} cannot be read: {exc.strerror or exc}") from exc
    try:
        return ShardIndex.from_json(data)
    except DataError as exc:
        raise DataError(f"{path}: {exc.message}") from exc


@dataclass(frozen=True)
class Member:
    """One sample of a shard: its image member's data offset, size and extension, and its class."""

    offset: int
    size: int
    extension: str
    label: int


class ShardFiles:
    """The shards of one split: where each lies, and each one's member table, per process."""

    def __init__(
        self, split: str, shards: SplitShards, folder: Path, num_classes: int, fetch: FetchShard | None = None
    ) -> None:
        self.split, self.refs, self.folder = split, shards.shards, folder
        self.num_classes, self.fetch = num_classes, fetch
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._paths: dict[int, Path] = {}
        self._tables: dict[int, list[Member]] = {}
        self._open: OrderedDict[int, int] = OrderedDict()  # shard -> file descriptor

    def __getstate__(self) -> dict[str, Any]:  # a spawned worker opens its own files
        state = dict(self.__dict__)
        state.update(_paths={}, _tables={}, _open=OrderedDict())
        return state

    def _this_process(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's descriptors are not ours to use or close
            self._reset()

    def name(self, shard: int) -> str:
        return f"shard {self.refs[shard].key} ({self.split} split)"

    def path(self, shard: int) -> Path:
        """The local file of ``shard`` (fetched once per process when there is a fetcher)."""
        self._this_process()
        path = self._paths.get(shard)
        if path is None:
            ref = self.refs[shard]
            if self.fetch is None:
                path = self._in_folder(shard)
            else:
                try:
                    path = self.fetch(ref.key, ref.sha256)
                except OSError as exc:
                    raise DataError(f"{self.name(shard)} cannot be fetched: {exc}") from exc
            self._paths[shard] = path
        return path

    def _in_folder(self, shard: int) -> Path:
        key = Path(self.refs[shard].key)
        if key.is_absolute() or ".." in key.parts:
            raise DataError(f"{self.name(shard)}: a key must be a path inside the index's folder")
        return self.folder / key

    def members(self, shard: int) -> list[Member]:
        """The shard's samples in order, read from its tar headers once per process."""
        self._this_process()
        table = self._tables.get(shard)
        if table is None:
            table = self._read_table(shard)
            self._tables[shard] = table
        return table

    def read(self, shard: int, member: Member) -> bytes:
        """The bytes of ``member``'s image."""
        data = os.pread(self._descriptor(shard), member.size, member.offset)
        if len(data) != member.size:
            raise DataError(f"{self.name(shard)} ends inside an image: it is shorter than its tar headers say")
        return data

    def close(self) -> None:
        """Close this process's open shards."""
        self._this_process()
        while self._open:
            os.close(self._open.popitem()[1])

    def _descriptor(self, shard: int) -> int:
        self._this_process()
        fd = self._open.get(shard)
        if fd is not None:
            self._open.move_to_end(shard)
            return fd
        path, ref = self.path(shard), self.refs[shard]
        if self.fetch is not None and not path.exists():  # gone from the node since this process fetched it
            del self._paths[shard]
            path = self.path(shard)
        fd = self._open_file(shard, path)
        size = os.fstat(fd).st_size
        if size != ref.size_bytes:
            os.close(fd)
            raise DataError(
                f"{self.name(shard)} is {size} bytes where the index says {ref.size_bytes}: it is corrupt or truncated"
            )
        self._open[shard] = fd
        if len(self._open) > OPEN_SHARDS:
            os.close(self._open.popitem(last=False)[1])
        return fd

    def _open_file(self, shard: int, path: Path) -> int:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DataError(f"{self.name(shard)} is missing: {path} cannot be opened ({exc.strerror})") from exc

    def _read_table(self, shard: int) -> list[Member]:
        fd, ref = self._descriptor(shard), self.refs[shard]
        with os.fdopen(os.dup(fd), "rb") as handle:
            try:
                with tarfile.open(fileobj=handle, mode="r:") as tar:
                    infos = [info for info in tar if info.isfile()]
                table = _members(infos, lambda info: os.pread(fd, info.size, info.offset_data), self.num_classes)
            except _TAR_FAILURES as exc:
                raise DataError(f"{self.name(shard)} is not a readable tar of samples: {exc}") from exc
        if len(table) != ref.samples:
            raise DataError(f"{self.name(shard)} holds {len(table)} samples where the index says {ref.samples}")
        return table


def _members(infos: list[tarfile.TarInfo], read: Callable[[tarfile.TarInfo], bytes], num_classes: int) -> list[Member]:
    """A member table from a shard's tar headers: members grouped by key (the name up to its first
    dot, as WebDataset groups them), in order; each sample needs one image and one class."""
    named = [
        (match.group(1), match.group(2).lower(), info) for info in infos if (match := _MEMBER_NAME.match(info.name))
    ]
    table: list[Member] = []
    for key, group in itertools.groupby(named, key=lambda item: item[0]):
        image: tuple[str, tarfile.TarInfo] | None = None
        label: int | None = None
        for _, extension, info in group:
            if extension == LABEL_EXTENSION:
                label = int(read(info).decode("ascii").strip())
            elif extension in _IMAGE_EXTENSIONS and image is None:
                image = extension, info
        if image is None or label is None:
            raise ValueError(f"sample {key!r} lacks {'an image' if image is None else 'its .cls member'}")
        if not 0 <= label < num_classes:
            raise ValueError(f"sample {key!r} has class {label}, outside [0, {num_classes})")
        table.append(Member(image[1].offset_data, image[1].size, image[0], label))
    return table


Decode = Literal["pil", "tensor"]


class ShardedImages(Dataset):
    """One split of a sharded dataset, decoded on access; items are (transformed image, int label).

    ``decode`` is ``pil`` for the small-image pipeline (PIL's transforms) and ``tensor`` for the
    large-image one (``image_codecs``), as ``image_folder`` decodes files.
    """

    def __init__(self, files: ShardFiles, transform: Callable[[Any], torch.Tensor], decode: Decode) -> None:
        self.files, self.transform, self.decode = files, transform, decode
        counts = [ref.samples for ref in files.refs]
        self.starts = [0, *itertools.accumulate(counts)]  # sample numbers where each shard begins

    @property
    def shard_counts(self) -> list[int]:
        return [ref.samples for ref in self.files.refs]

    def __len__(self) -> int:
        return self.starts[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """(shard, sample of that shard) of sample ``index`` of the split."""
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} of a split of {len(self)}")
        shard = bisect.bisect_right(self.starts, index) - 1
        return shard, index - self.starts[shard]

    def encoded(self, index: int) -> tuple[bytes, str, int, str]:
        """(image bytes, extension, label, where) of sample ``index``: ``where`` names it in errors."""
        shard, position = self.locate(index)
        member = self.files.members(shard)[position]
        where = f"#{position} of {self.files.name(shard)}"
        return self.files.read(shard, member), member.extension, member.label, where

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        data, extension, label, where = self.encoded(index)
        image = rgb_image(data, where) if self.decode == "pil" else rgb_tensor(data, extension, where)
        return self.transform(image), label  # (3, S, S)
