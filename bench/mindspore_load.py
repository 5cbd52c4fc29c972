"""MindSpore's side of bench/mindspore_roundtrip.py: load digitlab's .ckpt exports into the seeds' own networks,
score them with the seeds' own test pipelines, and save them back with save_checkpoint. Runs in MindSpore's venv.

    python bench/mindspore_load.py --data ROOT --job JOB.json

JOB.json: [{"program": "quickstart"|"quickstart-deep"|"lenet5", "ckpt": PATH, "resave": PATH}, ...]. ROOT holds
MNIST_Data/{train,test}/ (bench/sides.py writes it from the verified IDX files). For each export: the seed's class
(copied below as the seeds write them), `mindspore.load_checkpoint` + `mindspore.load_param_into_net` (both lists
of what was not loaded must be empty), the seed's own test pass on MNIST's test set (seeds 000/001: `datapipe` +
`test`/`test_loop`; seed 002: `create_dataset` + `Model.eval`, which shuffles and drops the last 16 of the 10,000
images with drop_remainder, so it also gets one pass over all 10,000 in file order with the same transforms), then
`mindspore.save_checkpoint(net, resave)`. The seeds' per-batch prints are left out (they change nothing scored).
The last stdout line is one JSON list of results. Imports only MindSpore and numpy: this venv has no torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mindspore
from mindspore import nn
from mindspore.dataset import MnistDataset, transforms, vision


# ------------------------------------------------------------------------------------------------ seed 000
class Network(nn.Cell):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.SequentialCell(
            nn.Dense(28 * 28, 512), nn.ReLU(), nn.Dense(512, 512), nn.ReLU(), nn.Dense(512, 10))

    def construct(self, x):
        x = self.flatten(x)
        return self.dense_relu_sequential(x)


def datapipe(dataset, batch_size):
    image_transforms = [
        vision.Rescale(1.0 / 255.0, 0),
        vision.Normalize(mean=(0.1307,), std=(0.3081,)),
        vision.HWC2CHW(),
    ]
    label_transform = transforms.TypeCast(mindspore.int32)
    dataset = dataset.map(image_transforms, "image")
    dataset = dataset.map(label_transform, "label")
    dataset = dataset.batch(batch_size)
    return dataset


def test(model, dataset, loss_fn):
    """Seed 000's test() (seed 001's test_loop is the same without the per-batch prints)."""
    num_batches = dataset.get_dataset_size()
    model.set_train(False)
    total, test_loss, correct = 0, 0, 0
    for data, label in dataset.create_tuple_iterator():
        pred = model(data)
        total += len(data)
        test_loss += loss_fn(pred, label).asnumpy()
        correct += (pred.argmax(1) == label).asnumpy().sum()
    test_loss /= num_batches
    correct /= total
    print(f"Test: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return 100 * correct, total


# ------------------------------------------------------------------------------------------------ seed 001
class Network_new(nn.Cell):  # noqa: N801 (the seed's name)
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.SequentialCell(
            nn.Dense(28 * 28, 512), nn.ReLU(), nn.Dense(512, 1024), nn.ReLU(), nn.Dense(1024, 512), nn.ReLU(),
            nn.Dense(512, 128), nn.ReLU(), nn.Dense(128, 10))

    def construct(self, x):
        x = self.flatten(x)
        return self.dense_relu_sequential(x)


# ------------------------------------------------------------------------------------------------ seed 002
def create_dataset(data_path, batch_size=32, repeat_size=1, num_parallel_workers=1, shuffle_and_drop=True):
    """Seed 002's create_dataset; shuffle_and_drop=False (not the seed's) keeps all 10,000 images in file order."""
    from mindspore import dtype as mstype
    from mindspore.dataset.vision import Inter

    mnist_ds = MnistDataset(data_path, shuffle=None if shuffle_and_drop else False)
    resize_height, resize_width = 32, 32
    rescale = 1.0 / 255.0
    shift = 0.0
    rescale_nml = 1 / 0.3081
    shift_nml = -1 * 0.1307 / 0.3081
    resize_op = vision.Resize((resize_height, resize_width), interpolation=Inter.LINEAR)
    rescale_nml_op = vision.Rescale(rescale_nml, shift_nml)
    rescale_op = vision.Rescale(rescale, shift)
    hwc2chw_op = vision.HWC2CHW()
    type_cast_op = transforms.TypeCast(mstype.int32)
    mnist_ds = mnist_ds.map(operations=type_cast_op, input_columns="label", num_parallel_workers=num_parallel_workers)
    mnist_ds = mnist_ds.map(operations=resize_op, input_columns="image", num_parallel_workers=num_parallel_workers)
    mnist_ds = mnist_ds.map(operations=rescale_op, input_columns="image", num_parallel_workers=num_parallel_workers)
    mnist_ds = mnist_ds.map(operations=rescale_nml_op, input_columns="image", num_parallel_workers=num_parallel_workers)
    mnist_ds = mnist_ds.map(operations=hwc2chw_op, input_columns="image", num_parallel_workers=num_parallel_workers)
    if shuffle_and_drop:
        buffer_size = 10000
        mnist_ds = mnist_ds.shuffle(buffer_size=buffer_size)
    mnist_ds = mnist_ds.batch(batch_size, drop_remainder=shuffle_and_drop)
    return mnist_ds


class LeNet5(nn.Cell):
    def __init__(self, num_class=10, num_channel=1):
        from mindspore.common.initializer import Normal

        super().__init__()
        self.conv1 = nn.Conv2d(num_channel, 6, 5, pad_mode="valid")
        self.conv2 = nn.Conv2d(6, 16, 5, pad_mode="valid")
        self.fc1 = nn.Dense(16 * 5 * 5, 120, weight_init=Normal(0.02))
        self.fc2 = nn.Dense(120, 84, weight_init=Normal(0.02))
        self.fc3 = nn.Dense(84, num_class, weight_init=Normal(0.02))
        self.relu = nn.ReLU()
        self.max_pool2d = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()

    def construct(self, x):
        x = self.max_pool2d(self.relu(self.conv1(x)))
        x = self.max_pool2d(self.relu(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


# ------------------------------------------------------------------------------------------------ the check
def score_mlp(net, root: Path) -> dict:
    test_dataset = datapipe(MnistDataset(str(root / "test")), 64)
    acc, n = test(net, test_dataset, nn.CrossEntropyLoss())
    return {"mindspore_acc": round(float(acc), 2), "mindspore_images": int(n)}


def score_lenet5(net, root: Path) -> dict:
    from mindspore.train import Accuracy, Model

    ds_eval = create_dataset(str(root / "test"))
    net_loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    net_opt = nn.Momentum(net.trainable_params(), 0.01, 0.9)
    model = Model(net, net_loss, net_opt, metrics={"Accuracy": Accuracy()})
    acc = model.eval(ds_eval, dataset_sink_mode=False)["Accuracy"] * 100
    print(f"============== Accuracy:{acc / 100} ==============")
    full = model.eval(create_dataset(str(root / "test"), shuffle_and_drop=False), dataset_sink_mode=False)
    return {"mindspore_acc": round(float(acc), 2), "mindspore_images": ds_eval.get_dataset_size() * 32,
            "mindspore_acc_all": round(float(full["Accuracy"] * 100), 2), "mindspore_images_all": 10000}


PROGRAMS = {"quickstart": (Network, score_mlp), "quickstart-deep": (Network_new, score_mlp),
            "lenet5": (LeNet5, score_lenet5)}


def check(program: str, ckpt: str, resave: str, root: Path) -> dict:
    cell, score = PROGRAMS[program]
    net = cell()
    param_dict = mindspore.load_checkpoint(ckpt)
    param_not_load, ckpt_not_load = mindspore.load_param_into_net(net, param_dict)
    net.set_train(False)
    result = {"program": program, "cell": cell.__name__, "parameters": len(net.parameters_dict()),
              "param_not_load": list(param_not_load), "ckpt_not_load": list(ckpt_not_load)}
    result.update(score(net, root))
    mindspore.save_checkpoint(net, resave)
    result["resaved_identical_bytes"] = Path(resave).read_bytes() == Path(ckpt).read_bytes()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding MNIST_Data/ (or MNIST_Data itself)")
    parser.add_argument("--job", required=True, help="JSON list of {program, ckpt, resave}")
    args = parser.parse_args()
    root = Path(args.data)
    root = root if (root / "test").is_dir() else root / "MNIST_Data"
    jobs = json.loads(Path(args.job).read_text())
    results = [check(j["program"], j["ckpt"], j["resave"], root) for j in jobs]
    for r in results:
        r["mindspore"] = mindspore.__version__
    sys.stdout.flush()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
