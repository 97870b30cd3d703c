"""``fm data --get imagenette``: the paper's data in one command, through torchvision.

torchvision's ``Imagenette(root, size="160px", download=True)`` fetches
``imagenette2-160.tgz`` (with a progress bar), checks its MD5 and extracts it to
``root/imagenette2-160/{train,val}/<synset>/*.JPEG``. On its own it is not safe to
interrupt: a half-written archive is simply downloaded again, but a half-extracted
folder counts as "already there" on the next run. So the download happens in a staging
folder, ``<data>/imagenette2-160.download/``, and the extracted tree is moved to
``<data>/imagenette2-160/`` in one rename once it is whole. A tree at the final place
is therefore complete (or the user's own), and a re-run after any interruption either
reuses the verified archive or starts the download again; it never accepts half a tree.
"""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

from fm_core.errors import UserError
from fm_core.paths import data_dir

# The paper's 5 of Imagenette's 10 classes, in the paper's (and ImageFolder's sorted) order.
IMAGENETTE_CLASSES: tuple[tuple[str, str], ...] = (
    ("n02102040", "English springer"),
    ("n03000684", "chain saw"),
    ("n03028079", "church"),
    ("n03394916", "French horn"),
    ("n03417042", "garbage truck"),
)
IMAGENETTE_FOLDER = "imagenette2-160"
IMAGENETTE_ARCHIVE = "imagenette2-160.tgz"
IMAGENETTE_SIZE = "160px"  # torchvision's name for the 160 px variant
# torchvision's own URL is read from torchvision when it is importable (see imagenette_url).
IMAGENETTE_URL = "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz"
STAGING_SUFFIX = ".download"
# A stalled connection should end in the one-line error, not hang the command forever.
DOWNLOAD_TIMEOUT_S = 60.0


def imagenette_url() -> str:
    """The tarball URL torchvision downloads (its table, so the message never drifts from it)."""
    try:
        from torchvision.datasets import Imagenette

        return Imagenette._ARCHIVES[IMAGENETTE_SIZE][0]
    except (ImportError, AttributeError, KeyError, IndexError):
        return IMAGENETTE_URL


def find_imagenette_tree(root: Path) -> Path | None:
    """The folder holding ``train/`` and ``val/``: ``root`` itself (the extracted tarball) or
    ``root/imagenette2-160`` (torchvision's ``Imagenette(root, size='160px')`` layout)."""
    for candidate in (root, root / IMAGENETTE_FOLDER):
        if (candidate / "train" / IMAGENETTE_CLASSES[0][0]).is_dir():
            return candidate
    return None


def missing_class_folders(tree: Path) -> list[str]:
    """``split/synset`` for every paper class folder absent from ``tree``."""
    return [f"{split}/{wnid}" for split in ("train", "val") for wnid, _ in IMAGENETTE_CLASSES
            if not (tree / split / wnid).is_dir()]


def staging_folder(data_folder: Path) -> Path:
    return data_folder / (IMAGENETTE_FOLDER + STAGING_SUFFIX)


def archive_path(data_folder: Path) -> Path:
    """Where the tarball lies while (and until) it is extracted; a user without network
    access can put it here by hand."""
    return staging_folder(data_folder) / IMAGENETTE_ARCHIVE


def download_failed(data_folder: Path, reason: str) -> UserError:
    """One line: the reason, the URL to fetch, and the exact path to save it as."""
    return UserError(
        f"Imagenette download failed ({reason}): fetch {imagenette_url()} and save it as "
        f"{archive_path(data_folder.resolve())}, then run `fm data --get imagenette` again "
        "(the checksum is verified and the archive extracted without network access)")


def _torchvision_download(staging: Path) -> None:
    """torchvision's download, MD5 check and extraction into ``staging/imagenette2-160``."""
    from torchvision.datasets import Imagenette  # looked up at call time: tests replace it

    Imagenette(str(staging), split="train", size=IMAGENETTE_SIZE, download=True)


def get_imagenette(data_folder: Path | None = None, log=print) -> Path:
    """Make sure ``<data>/imagenette2-160/`` holds Imagenette (160 px); returns that folder.

    A complete tree is left alone. Otherwise the archive is downloaded (or reused, when
    the staging folder already holds one with the right checksum) and extracted, and the
    tree is moved into place only when whole. Any failure is one UserError line naming
    the URL and the path to save the archive as."""
    data_folder = Path(data_folder) if data_folder is not None else data_dir()
    final = data_folder / IMAGENETTE_FOLDER
    if final.exists():
        tree = find_imagenette_tree(final)
        missing = missing_class_folders(tree) if tree is not None else ["train/", "val/"]
        if not missing:
            log(f"Imagenette is already in {tree}; nothing to download")
            return tree
        raise UserError(f"{final} exists but is incomplete (missing {', '.join(missing[:3])}"
                        f"{', ...' if len(missing) > 3 else ''}); remove it and run "
                        "`fm data --get imagenette` again")
    staging = staging_folder(data_folder)
    partial = staging / IMAGENETTE_FOLDER
    if partial.exists():  # an extraction was interrupted: torchvision would take it as done
        log(f"removing the half-extracted {partial}")
        shutil.rmtree(partial)
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {staging}: {exc.strerror or exc}") from None
    if archive_path(data_folder).is_file():
        log(f"checking {archive_path(data_folder)} (downloaded again if its checksum is wrong)")
    else:
        log(f"downloading {imagenette_url()} to {staging}/")
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        _torchvision_download(staging)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - urllib, http, MD5 and tar errors all mean: fetch it by hand
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise download_failed(data_folder, reason[:160]) from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    missing = missing_class_folders(partial)
    if missing:
        raise download_failed(data_folder, f"the archive lacks {', '.join(missing[:3])}")
    partial.rename(final)  # one step: the loader sees no tree or a whole one
    shutil.rmtree(staging, ignore_errors=True)  # the archive is no longer needed
    log(f"Imagenette ready in {final}")
    return final
