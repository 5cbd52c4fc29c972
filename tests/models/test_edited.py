"""models/edited.py: a class in memory against its file's text, compiled afresh."""

from digitlab.models.edited import changed_since_import

TEXT = '''class Net:
    def __init__(self, width=32):
        self.width = width * 2

    def forward(self, x):
        return x + 1
'''


def live(text):
    namespace: dict = {}
    exec(compile(text, "<net>", "exec"), namespace)
    return namespace["Net"]


def test_the_same_text_matches():
    assert not changed_since_import(live(TEXT), TEXT)


def test_an_edited_body_a_changed_default_or_a_broken_file_does_not():
    net = live(TEXT)
    assert changed_since_import(net, TEXT.replace("x + 1", "x + 2"))
    assert changed_since_import(net, TEXT.replace("width=32", "width=64"))
    assert changed_since_import(net, TEXT.replace("def forward", "def forwrd"))
    assert changed_since_import(net, "class Net(:\n")
