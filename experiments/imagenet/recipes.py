"""The rows of the LayerNAS paper's ImageNet table as runnable recipes.

Each recipe names the space and MAdds budget of one row of the paper's table, the
proxy every candidate trains with, the search, and the final training of its
answer, and the figure the paper reports for that row. The budget is the paper's
network's own MAdds at 224x224, so the paper's answer lies within it. What the
paper does not state here is ours and said so: the proxy (5 epochs at 224x224, SGD,
the batch of one 8-GPU host) and the final recipe (350 epochs of RMSProp with
warm-up, cosine decay, label smoothing, an EMA of the weights and RandAugment, in
bfloat16 on a TPU slice with the batch of 4096 the MobileNetV3 paper trained with).
Nothing on this machine reproduces the figures: a row is GPU-days of search and a
TPU slice-day of training. `smoke=True` runs the same code end to end at a tiny
size (the test suite does, on `tfds.testing.mock_data` ImageNet).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Optional

import layernas_tf


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One row of the paper's table and how to reproduce it.

    Attributes:
      paper: the row as the paper reports it (its network's name, MAdds, top-1).
      paper_top1: the row's ImageNet top-1 (%).
      search: `layernas_tf.search()`'s arguments (the command's flags) besides the
        data and where the study goes.
      final: the final training's recipe (`python -m layernas_tf.train`'s flags).
    """

    name: str
    paper: str
    paper_top1: float
    search: dict[str, Any]
    final: dict[str, Any]


# The proxy and search shared by every row: the paper's LayerNAS (H=10, k=1), candidates trained 5 epochs.
_SEARCH = dict(dataset="imagenet2012", image_size=224, deploy_image_size=224, proxy_epochs=5, batch_size=1024,
               learning_rate=0.4, algorithm="layernas", buckets=10, per_bucket=1, tflite="float")
# The final training of the answer: a TPU-slice recipe in the MobileNetV3 paper's manner (batch 4096).
_FINAL = dict(epochs=350, optimizer="rmsprop", learning_rate=0.256, warmup_epochs=5, label_smoothing=0.1,
              weight_decay=1e-5, ema=0.9999, augment="randaugment", batch_size=4096, mixed_precision=True,
              steps_per_execution=32, tflite="float")

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("layernas_60m", "LayerNAS-60M: 61M MAdds, 3.7M parameters, top-1 69.0%", 69.0,
           dict(_SEARCH, space="mbv3_small", madds="61M"), _FINAL),
    Recipe("layernas_220m", "LayerNAS-220M: 229M MAdds, 5.1M parameters, top-1 75.6%", 75.6,
           dict(_SEARCH, space="mbv3_large", madds="229M"), _FINAL),
    Recipe("layernas_300m", "LayerNAS-300M: 322M MAdds, 5.2M parameters, top-1 77.1%", 77.1,
           dict(_SEARCH, space="mbv2", madds="322M"), _FINAL),
    Recipe("layernas_600m", "LayerNAS-600M: 627M MAdds, 9.7M parameters, top-1 78.6%", 78.6,
           dict(_SEARCH, space="mbv2_140", madds="627M"), _FINAL),
)}

# A smoke run: the same code end to end in a minute on a CPU (two trials of a 1-epoch proxy at 32x32, one
# epoch of final training at the deployment size); budgets and the deployment size stay the row's.
SMOKE_SEARCH = dict(image_size=32, proxy_epochs=1, batch_size=8, learning_rate=0.01, max_trials=2,
                    executor="serial", verbose=0)
SMOKE_FINAL = dict(epochs=1, warmup_epochs=0, learning_rate=0.001, batch_size=8, ema=0.0, steps_per_execution=2,
                   verbose=0)


def get(name: str) -> Recipe:
    """The recipe called `name`; ValueError naming the valid ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe={name!r}; valid: {', '.join(RECIPES)}")
    return RECIPES[name]


def settings(recipe: Recipe, *, smoke: bool = False, data_dir: Optional[str] = None, tpu: Optional[str] = None,
             study_dir: Optional[str] = None, dataset: Optional[str] = None) -> tuple[dict, dict]:
    """The search's arguments and the final training's for a run of `recipe` (shrunk with `smoke`)."""
    search = dict(recipe.search, **(SMOKE_SEARCH if smoke else {}))
    search["study_dir"] = study_dir or os.path.join("runs", "imagenet", recipe.name + ("_smoke" if smoke else ""))
    search.update({k: v for k, v in (("data_dir", data_dir), ("tpu", tpu), ("dataset", dataset)) if v})
    final = dict(recipe.final, **(SMOKE_FINAL if smoke else {}))
    return search, final


def _flag(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"--{name}" if value else f"--no{name}"
    return f"--{name}={value}"


def command_lines(search: dict[str, Any], final: dict[str, Any]) -> list[str]:
    """The shell commands that run the same search and final training (`settings()`'s output)."""
    train = {"study_dir": search["study_dir"], **final}
    if search.get("tpu"):
        train["tpu"] = search["tpu"]
    if search.get("data_dir"):
        train["data_dir"] = search["data_dir"]
    return ["python -m layernas_tf.main " + " ".join(_flag(k, v) for k, v in search.items()),
            "python -m layernas_tf.train " + " ".join(_flag(k, v) for k, v in train.items())]


def run(name: str, *, smoke: bool = False, data_dir: Optional[str] = None, tpu: Optional[str] = None,
        study_dir: Optional[str] = None, dataset: Optional[str] = None,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Runs a recipe: its search, then its answer's final training and export; returns a summary.

    A run stopped anywhere resumes when run again: the search from its study, the final
    training from its last finished epoch.

    Raises:
      ValueError: an unknown recipe, or a bad setting (as `layernas_tf.search()`).
    """
    recipe = get(name)
    search, final = settings(recipe, smoke=smoke, data_dir=data_dir, tpu=tpu, study_dir=study_dir, dataset=dataset)
    log(f"recipe {name}{' (smoke run: tiny sizes, not the figures)' if smoke else ''} reproduces {recipe.paper}")
    for line in command_lines(search, final):
        log(f"  {line}")
    result = layernas_tf.search(log=log, **search)
    if result.best is None:
        raise ValueError(f"the search of recipe {name} found no network within {search['madds']} MAdds")
    trained = result.train(log=log, **final)
    top1 = 100 * trained["final"]["val_top1"]
    log(f"recipe {name}: {result.best['arch']} at {result.best['costs']['madds'] / 1e6:.1f}M MAdds, ImageNet "
        f"validation top-1 {top1:.1f}% after {final['epochs']} epoch(s); the paper: {recipe.paper}")
    return {"recipe": name, "paper_top1": recipe.paper_top1, "top1": top1, "best": result.best,
            "trials": result.trials, "final": trained, "commands": command_lines(search, final)}
