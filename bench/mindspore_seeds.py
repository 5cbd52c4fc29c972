"""The seeds' own MindSpore programs, as written, timed for one epoch; run inside MindSpore's venv by bench/sides.py.

    python bench/mindspore_seeds.py quickstart --data ROOT [--steps N]   seed 000: MindSpore quick start
    python bench/mindspore_seeds.py lenet5 --data ROOT [--steps N]       seed 002: MindSpore's LeNet-5 sample

ROOT holds MNIST_Data/{train,test}/ (bench/sides.py writes it from the verified IDX files). The programs are the
seeds' code with their prints (they are part of the tutorial's cost) and nothing added but timers; the only
departures: no download (the files are already there), no matplotlib window, no checkpoint files,
`dataset_sink_mode=False` (the CPU mode of the sample) and LossMonitor printing every 100 steps. --steps N stops
training after N batches (and tests on N/6 batches) and scales each time to its whole split. The last stdout line
is a JSON result for sides.run_mindspore. Imports only MindSpore and numpy: this venv has no torch and no digitlab.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mindspore
from mindspore import nn
from mindspore.dataset import MnistDataset, transforms, vision


def quickstart(root: Path, steps: int) -> dict:
    """Seed 000 (the MindSpore quick start): MLP 784-512-512-10, SGD 1e-2, batch 64, in file order."""
    train_dataset = MnistDataset(str(root / "train"))
    test_dataset = MnistDataset(str(root / "test"))

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

    train_dataset = datapipe(train_dataset, 64)
    test_dataset = datapipe(test_dataset, 64)
    full_train, full_test = train_dataset.get_dataset_size(), test_dataset.get_dataset_size()
    if steps:
        train_dataset, test_dataset = train_dataset.take(steps), test_dataset.take(max(1, steps // 6))

    class Network(nn.Cell):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.dense_relu_sequential = nn.SequentialCell(
                nn.Dense(28 * 28, 512), nn.ReLU(), nn.Dense(512, 512), nn.ReLU(), nn.Dense(512, 10))

        def construct(self, x):
            x = self.flatten(x)
            return self.dense_relu_sequential(x)

    model = Network()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = nn.SGD(model.trainable_params(), 1e-2)

    def forward_fn(data, label):
        logits = model(data)
        loss = loss_fn(logits, label)
        return loss, logits

    grad_fn = mindspore.value_and_grad(forward_fn, None, optimizer.parameters, has_aux=True)

    def train_step(data, label):
        (loss, _), grads = grad_fn(data, label)
        optimizer(grads)
        return loss

    def train(model, dataset):
        size = dataset.get_dataset_size()
        model.set_train()
        for batch, (data, label) in enumerate(dataset.create_tuple_iterator()):
            loss = train_step(data, label)
            if batch % 100 == 0:
                loss, current = loss.asnumpy(), batch
                print(f"loss: {loss:>7f}  [{current:>3d}/{size:>3d}]")

    def test(model, dataset, loss_fn):
        num_batches = dataset.get_dataset_size()
        model.set_train(False)
        total, test_loss, correct = 0, 0, 0
        for data, label in dataset.create_tuple_iterator():
            pred = model(data)
            total += len(data)
            test_loss += loss_fn(pred, label).asnumpy()
            print("test_loss1-->", test_loss)
            correct += (pred.argmax(1) == label).asnumpy().sum()
            print("pred.argmax(1)-->", pred.argmax(1))
        test_loss /= num_batches
        correct /= total
        print(f"Test: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
        return 100 * correct

    print("Epoch 1\n-------------------------------")
    t0 = time.perf_counter()
    train(model, train_dataset)
    t1 = time.perf_counter()
    acc = test(model, test_dataset, loss_fn)
    t2 = time.perf_counter()
    return _result("quickstart", t1 - t0, t2 - t1, steps, full_train, full_test, acc)


def lenet5(root: Path, steps: int) -> dict:
    """Seed 002 (MindSpore's LeNet-5 sample): resize 32, rescale + normalize, shuffle 10000, batch 32 with
    drop_remainder, SoftmaxCrossEntropyWithLogits(sparse, mean), Momentum(0.01, 0.9), Model.train / Model.eval."""
    from mindspore import dtype as mstype
    from mindspore.common.initializer import Normal
    from mindspore.dataset.vision import Inter
    from mindspore.train import Accuracy, LossMonitor, Model  # MindSpore 2.x's home of the sample's Model API

    try:  # the seed's imports; MindSpore 2.x keeps the same operations under dataset.transforms / dataset.vision
        import mindspore.dataset.transforms.c_transforms as C
        import mindspore.dataset.vision.c_transforms as CV
    except ImportError:
        C, CV = transforms, vision

    def create_dataset(data_path, batch_size=32, repeat_size=1, num_parallel_workers=1):
        mnist_ds = MnistDataset(data_path)
        resize_height, resize_width = 32, 32
        rescale = 1.0 / 255.0
        shift = 0.0
        rescale_nml = 1 / 0.3081
        shift_nml = -1 * 0.1307 / 0.3081
        resize_op = CV.Resize((resize_height, resize_width), interpolation=Inter.LINEAR)
        rescale_nml_op = CV.Rescale(rescale_nml, shift_nml)
        rescale_op = CV.Rescale(rescale, shift)
        hwc2chw_op = CV.HWC2CHW()
        type_cast_op = C.TypeCast(mstype.int32)
        mnist_ds = mnist_ds.map(operations=type_cast_op, input_columns="label", num_parallel_workers=num_parallel_workers)
        mnist_ds = mnist_ds.map(operations=resize_op, input_columns="image", num_parallel_workers=num_parallel_workers)
        mnist_ds = mnist_ds.map(operations=rescale_op, input_columns="image", num_parallel_workers=num_parallel_workers)
        mnist_ds = mnist_ds.map(operations=rescale_nml_op, input_columns="image",
                                num_parallel_workers=num_parallel_workers)
        mnist_ds = mnist_ds.map(operations=hwc2chw_op, input_columns="image", num_parallel_workers=num_parallel_workers)
        buffer_size = 10000
        mnist_ds = mnist_ds.shuffle(buffer_size=buffer_size)
        mnist_ds = mnist_ds.batch(batch_size, drop_remainder=True)
        return mnist_ds

    class LeNet5(nn.Cell):
        def __init__(self, num_class=10, num_channel=1):
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

    ds_train = create_dataset(str(root / "train"))
    ds_eval = create_dataset(str(root / "test"))
    full_train, full_test = ds_train.get_dataset_size(), ds_eval.get_dataset_size()
    if steps:
        ds_train, ds_eval = ds_train.take(steps), ds_eval.take(max(1, steps // 6))
    net = LeNet5()
    net_loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    net_opt = nn.Momentum(net.trainable_params(), 0.01, 0.9)
    model = Model(net, net_loss, net_opt, metrics={"Accuracy": Accuracy()})
    t0 = time.perf_counter()
    model.train(1, ds_train, callbacks=[LossMonitor(100)], dataset_sink_mode=False)
    t1 = time.perf_counter()
    acc = model.eval(ds_eval, dataset_sink_mode=False)["Accuracy"] * 100
    t2 = time.perf_counter()
    print(f"============== Accuracy:{acc / 100} ==============")
    return _result("lenet5", t1 - t0, t2 - t1, steps, full_train, full_test, acc)


def _result(program: str, train_s: float, test_s: float, steps: int, full_train: int, full_test: int,
            acc: float) -> dict:
    """Seconds per epoch (training + its test pass); with --steps, each part scaled to its whole size."""
    if steps:
        train_s *= full_train / min(steps, full_train)
        test_s *= full_test / min(max(1, steps // 6), full_test)
    return {"program": program, "seconds_per_epoch": train_s + test_s, "train_seconds": train_s,
            "test_seconds": test_s, "accuracy": None if steps else round(float(acc), 2), "steps": steps or full_train,
            "steps_per_epoch": full_train, "mindspore": mindspore.__version__}


PROGRAMS = {"quickstart": quickstart, "lenet5": lenet5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", choices=sorted(PROGRAMS))
    parser.add_argument("--data", required=True, help="folder holding MNIST_Data/ (or MNIST_Data itself)")
    parser.add_argument("--steps", type=int, default=0, help="train N batches only and scale to an epoch")
    args = parser.parse_args()
    root = Path(args.data)
    root = root if (root / "train").is_dir() else root / "MNIST_Data"
    result = PROGRAMS[args.program](root, args.steps)
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
