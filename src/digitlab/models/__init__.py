"""Models: a registry of the tutorials' architectures and our own. Importing this package registers every family."""

from digitlab.models import cnn, lenet, mlp, rnn  # noqa: F401  (each family registers its models on import)
from digitlab.models.registry import ModelSpec, count_parameters, get_model, list_models, model_spec, register_model

__all__ = ["ModelSpec", "count_parameters", "get_model", "list_models", "model_spec", "register_model"]
