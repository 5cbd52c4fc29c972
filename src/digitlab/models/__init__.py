"""Models: a registry of the tutorials' architectures and our own."""

from digitlab.models.registry import ModelSpec, count_parameters, get_model, list_models, model_spec, register_model

__all__ = ["ModelSpec", "count_parameters", "get_model", "list_models", "model_spec", "register_model"]
