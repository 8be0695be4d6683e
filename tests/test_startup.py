"""A trial process imports only what training needs: the trainable's module, imported in a fresh interpreter,
loads no torchvision (only resnet18 needs it, and it loads torch._dynamo), TensorBoard, Optuna, scikit-learn
or matplotlib. Two of the issue's list come anyway, from the libraries themselves, and the test says so:
pandas with Ray Tune (`ray.tune` imports it first thing, and every trial process runs Tune's trainable), so the
test checks that nothing of ours is why it is there; and torch._dynamo with torch's optimisers, which import it
at their first use (torch._compile._disable_dynamo), so a trial that trains still loads it, later."""
from __future__ import annotations

import json
import subprocess
import sys

NOT_IN_A_TRIAL = ("torch._dynamo", "torchvision", "tensorboard", "optuna", "sklearn", "matplotlib")
RECORDED = (*NOT_IN_A_TRIAL, "pandas")

# Records, for each watched module, the module whose code imported it first (frames of the import machinery
# skipped), then imports the trainable and prints what was loaded and by whom.
PROBE = f"""
import json, sys

class WhoImports:
    def __init__(self):
        self.importers = {{}}

    def find_spec(self, name, path=None, target=None):
        if name in {RECORDED!r} and name not in self.importers:
            frame = sys._getframe(1)
            while frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
                frame = frame.f_back
            self.importers[name] = frame.f_globals.get("__name__")
        return None  # the normal finders import it

who = WhoImports()
sys.meta_path.insert(0, who)
import tune_clothes.tuning.trainable
loaded = [m for m in {NOT_IN_A_TRIAL!r} if any(n == m or n.startswith(m + ".") for n in sys.modules)]
print(json.dumps({{"loaded": loaded, "importers": who.importers}}))
"""


def test_the_trainable_imports_only_what_a_trial_needs() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True, text=True).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert found["loaded"] == [], found
    assert found["importers"].get("pandas", "ray.tune").startswith("ray."), found  # Tune's, not ours
