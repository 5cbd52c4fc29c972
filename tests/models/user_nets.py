"""Users' network files for the own-network tests, as text (each test writes the one it needs into tmp_path)."""

CLASS = '''import torch.nn as nn


class Network(nn.Module):
    """The MindSpore quick start's Network, ported: Flatten, then Dense/ReLU layers."""

    def __init__(self, num_classes=10, hidden=32):
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.Sequential(
            nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.dense_relu_sequential(self.flatten(x))
'''

FACTORY = '''import torch.nn as nn

input_size = 32  # unused: a module attribute is not the factory's


def make_net(num_classes, width=16, dropout=0.0):
    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 32, width), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(width, num_classes))


make_net.input_size = 32  # LeNet-style 32x32 input: digitlab resizes the digits for it
'''

# its forward feeds 784 inputs into a 100-wide layer (the `return self.fc` line fails)
SHAPE_BUG = '''import torch.nn as nn


class Network(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = nn.Linear(100, num_classes)
    def forward(self, x):
        return self.fc(x.flatten(1))
'''

WRONG_OUTPUT = CLASS.replace("nn.Linear(hidden, num_classes)", "nn.Linear(hidden, 5)")
NO_PARAMETERS = '''import torch.nn as nn


class Network(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10]
'''
NAN_OUTPUT = CLASS.replace("return self.dense_relu_sequential(self.flatten(x))",
                           "return self.dense_relu_sequential(self.flatten(x)) * float('nan')")
SYNTAX_ERROR = CLASS.replace("def forward(self, x):", "def forward(self, x)")
IMPORT_ERROR = "import no_such_module_for_digitlab_tests\n" + CLASS
MINDSPORE = '''import mindspore.nn as nn


class Network(nn.Cell):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.SequentialCell(nn.Dense(28 * 28, 512), nn.ReLU(), nn.Dense(512, 10))

    def construct(self, x):
        return self.dense_relu_sequential(self.flatten(x))
'''


def writes_a_file(marker) -> str:
    """A network whose module, when executed, writes `marker`: proof of whether a checkpoint's code ran."""
    return f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n" + CLASS
