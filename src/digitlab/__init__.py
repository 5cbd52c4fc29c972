"""digitlab: train, evaluate, compare, explain and serve handwritten-digit classifiers.

The public API (everything the CLI does is one of these plain functions):
    train(config) -> summary          evaluate(run_or_checkpoint) -> metrics
    load_dataset(name)                get_model(name), list_models()
"""

from digitlab.data.sources import load_dataset
from digitlab.errors import DigitlabError

__version__ = "0.1.0"
__all__ = ["DigitlabError", "__version__", "load_dataset"]
