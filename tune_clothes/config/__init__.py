"""The experiment config: typed, frozen sections composed into one `Experiment`.

Entry points:
- `Experiment` and its sections (`DatasetConfig`, `ModelConfig`, `AugmentConfig`, `TrainConfig`, `CVConfig`,
  `ResourcesConfig`, `SearchConfig`), and `Recipe` (the sections that train one model);
- `Choice` and `Range`: the typed values of a search axis (`search_space`);
- `tune_clothes.config.loader.load_experiment`: YAML and `--set` overrides in, a validated `Experiment` out
  (import it from there: the training core never needs the YAML loader);
- `metric_names`: every metric name, defined once; `errors`: the errors that are the user's to fix.
"""
from tune_clothes.config.experiment import (
                                            AXIS_SECTIONS,
                                            MIN_IMAGE_SIZE,
                                            NOT_AXES,
                                            PROJECT_MODELS,
                                            AugmentConfig,
                                            CVConfig,
                                            DatasetConfig,
                                            Experiment,
                                            ModelConfig,
                                            Recipe,
                                            ResourcesConfig,
                                            SearchConfig,
                                            TrainConfig,
                                            axis_names,
                                            axis_section,
)
from tune_clothes.config.search_space import Axis, Choice, Range

__all__ = ["AXIS_SECTIONS", "MIN_IMAGE_SIZE", "NOT_AXES", "PROJECT_MODELS", "AugmentConfig", "Axis", "CVConfig",
           "Choice", "DatasetConfig", "Experiment", "ModelConfig", "Range", "Recipe", "ResourcesConfig",
           "SearchConfig", "TrainConfig", "axis_names", "axis_section"]
