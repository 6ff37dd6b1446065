"""The `images` source's loader: a folder with one sub-folder of PNG or JPEG images per class,
read with Pillow (installed with matplotlib) from bounded regular files; an unreadable image or
a size that differs is an error naming the file. `read_image_inputs` reads the images given to
`dlc predict`/`evaluate` the way training read them (size, colour mode).

Example:
    >>> import tempfile, os
    >>> from PIL import Image
    >>> root = tempfile.mkdtemp()
    >>> for c in ("cat", "dog"):
    ...     os.mkdir(os.path.join(root, c))
    ...     Image.new("L", (4, 3)).save(os.path.join(root, c, "a.png"))
    >>> from dlc.compiler.sources import Images
    >>> raw = load_images(Images(path=root), ".")
    >>> raw.parts["all"][0].shape, raw.parts["all"][1].tolist()
    ((2, 3, 4, 1), [0, 1])
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from dlc.compiler.errors import DlcError
from dlc.compiler.sources import Images
from dlc.runtime.data.raw import RawData
from dlc.runtime.data.reading import check_allocation, check_confined, read_data_bytes

EXTENSIONS = (".png", ".jpg", ".jpeg")


def _folder(source: Images, base_dir: str | Path) -> Path:
    p = Path(source.path)
    return check_confined(p if p.is_absolute() else Path(base_dir) / p)


def class_folders(source: Images, base_dir: str | Path) -> list[Path]:
    """The class sub-folders of an `images` source, sorted by name (index = class)."""
    root = _folder(source, base_dir)
    if not root.is_dir():
        raise DlcError.single(
            "no such folder" if not root.exists() else "not a folder",
            where=str(root),
            hint="an images source names a folder with one sub-folder of PNG or JPEG images per "
            "class",
        )
    # hidden folders (`.ipynb_checkpoints`, `.git`) are never classes
    folders = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.name,
    )
    if not folders:
        raise DlcError.single(
            "the folder has no class sub-folders",
            where=str(root),
            hint="put each class's images in a sub-folder named after the class",
        )
    return folders


def read_image(path: Path, source: Images, channels: int | None = None) -> np.ndarray:
    """One image as float32 pixels 0..255, (H, W, 1) or (H, W, 3) (`channels` forces one)."""
    from PIL import Image, UnidentifiedImageError

    raw = read_data_bytes(path)
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            opened.load()
            grey = source.grey or opened.mode in ("1", "L", "LA", "I", "I;16", "F")
            grey = grey if channels is None else channels == 1
            im = opened.convert("L" if grey else "RGB")
            if source.size is not None:
                h, w = source.size
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DlcError.single(
            f"not a readable image: {exc or type(exc).__name__}",
            where=str(path),
            hint="remove the file or save it again as PNG or JPEG",
        ) from None
    return a[..., None] if a.ndim == 2 else a


def image_files(folder: Path) -> list[Path]:
    """The PNG and JPEG files of a folder (not hidden ones), sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in EXTENSIONS and p.name[0] != "." and p.is_file()
    )


def load_images(source: Images, base_dir: str | Path) -> RawData:
    folders = class_folders(source, base_dir)
    files: list[tuple[Path, int]] = []
    for k, d in enumerate(folders):
        found = image_files(d)
        if not found:
            raise DlcError.single(
                f"class folder `{d.name}` holds no PNG or JPEG images",
                where=str(d),
                hint="add images (.png, .jpg, .jpeg)",
            )
        files += [(p, k) for p in found]
    images = [read_image(p, source) for p, _ in files]
    channels = max(a.shape[-1] for a in images)
    if channels == 3:  # a mix of greyscale and colour: greyscale images repeated to RGB
        images = [np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a for a in images]
    first = images[0].shape
    for (p, _), a in zip(files, images, strict=True):
        if a.shape != first:
            raise DlcError.single(
                f"the image is {a.shape[0]}x{a.shape[1]}, the first ({files[0][0].name}) "
                f"{first[0]}x{first[1]}",
                where=str(p),
                hint=f"resize every image with size=[{first[0]}, {first[1]}]",
            )
    check_allocation(
        len(images) * int(np.prod(first)) * 4, "the images", "use fewer or smaller images"
    )
    x = np.stack(images).astype(np.float32)
    y = np.array([k for _, k in files], dtype=np.int32)
    notes = [f"images: {len(files)} in {len(folders)} classes, {first[0]}x{first[1]}x{first[2]}"]
    return RawData({"all": (x, y)}, len(folders), notes=notes)


def read_image_inputs(
    path: Path, source: Images, shape: tuple[int, ...]
) -> tuple[np.ndarray, list[str] | None, list[str]]:
    """(pixels [N, H, W, C], class names or None, ids) of the images given to `dlc predict` or
    `evaluate`: one image file, a folder of images, or a folder with one sub-folder per class
    (labelled by the sub-folder names). Each is read as training read them: resized to the
    source's `size=`, converted to the model's channels (`shape`: (H, W, C))."""
    path = check_confined(path)
    if path.is_dir():
        files = image_files(path)
        labels: list[str] | None = None
        if not files:
            subs = sorted(d for d in path.iterdir() if d.is_dir() and d.name[0] != ".")
            pairs = [(p, d.name) for d in subs for p in image_files(d)]
            files, labels = [p for p, _ in pairs], [c for _, c in pairs]
        if not files:
            raise DlcError.single(
                "the folder holds no PNG or JPEG images",
                where=str(path),
                hint="give an image, a folder of images, or one sub-folder per class",
            )
    else:
        files, labels = [path], None
    images = [read_image(p, source, channels=shape[-1]) for p in files]
    for p, a in zip(files, images, strict=True):
        if a.shape != tuple(shape):
            raise DlcError.single(
                f"the image is {a.shape[0]}x{a.shape[1]}, the model takes {shape[0]}x{shape[1]}",
                where=str(p),
                hint=f"add size=[{shape[0]}, {shape[1]}] to the `images` line (and retrain), "
                "or resize the image",
            )
    ids = [str(p.relative_to(path)) if path.is_dir() else p.name for p in files]
    return np.stack(images).astype(np.float32), labels, ids
