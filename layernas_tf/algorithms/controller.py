"""Zoph & Le's RNN controller trained with REINFORCE (ICLR 2017), behind the ask/tell contract.

The one algorithm that imports Keras, and only when one is made: the rest of
`layernas_tf.algorithms` stays free of TensorFlow.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from layernas_tf.algorithms.reinforce import PolicySearch
from layernas_tf.core.space import Architecture

_MASKED = -1e9  # added to the logit of an option the policy may not take
_INIT_SCALE = 0.08  # Zoph & Le: every weight uniform in [-0.08, 0.08]
_DRAWS_PER_TEMPERATURE = 10  # draws that find only trained networks before the policy is flattened


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Controller(PolicySearch):
    """A recurrent policy over the decision points, in space order, trained on the rewards.

    A Keras LSTM (`layers` x `units`) reads at each step the embedding of the
    previous choice (a start token first) and a softmax head of that decision
    point picks an option. Every `batch` rewards, Adam takes one step on
    -sum_t log p(choice_t) * (reward - baseline), the baseline being a
    moving average of earlier rewards. Options that cannot lead to a feasible
    network (their cheapest completion is over the target, or a budget of the
    space cannot be met any more) are masked out of the softmax, so the policy
    only draws networks that can meet the budget, without spending its draws on
    rejected samples. A network drawn that was trained before teaches the
    policy its known reward at no trial's cost (once per trial asked for) and
    is drawn again; every 10 such draws the softmax temperature doubles, so a
    policy that has settled on trained networks explores their neighbourhood
    before it falls back to a uniform draw.

    Sampling runs in NumPy from the Keras weights (the same LSTM equations, checked
    against the Keras model in the tests); only the update runs through Keras.

    Args:
      units: LSTM units per layer (Zoph & Le: 35).
      layers: stacked LSTM layers (Zoph & Le: 2).
      learning_rate: Adam's step size.
      baseline_decay: momentum of the reward's moving average.
      batch: rewards per policy update (Zoph & Le's m); 1 compares at equal trials.
      sample_attempts: policy draws per trial before falling back to a uniform one.
    """

    name = "controller"
    tuned = ("units", "layers", "learning_rate", "baseline_decay", "sample_attempts")
    learn_known_once = True

    def __init__(
        self,
        space,
        target,
        *,
        units: int = 35,
        layers: int = 2,
        learning_rate: float = 0.005,
        baseline_decay: float = 0.9,
        batch: int = 1,
        sample_attempts: int = 100,
        max_trials: Optional[int] = None,
        seed: int = 0,
    ):
        super().__init__(space, target, sample_attempts=sample_attempts, max_trials=max_trials, seed=seed)
        for name, value in (("units", units), ("layers", layers), ("batch", batch),
                            ("sample_attempts", sample_attempts)):
            if value < 1:
                raise ValueError(f"controller: {name} must be a positive integer, got {value}")
        if not learning_rate > 0 or not 0 <= baseline_decay < 1:
            raise ValueError(f"controller: need learning_rate > 0 and 0 <= baseline_decay < 1, "
                             f"got {learning_rate} and {baseline_decay}")
        self.units, self.layers, self.learning_rate = units, layers, learning_rate
        self.baseline_decay, self.batch = baseline_decay, batch
        self._sizes = [len(p) for p in space.decision_points]
        self._offsets = [1 + sum(self._sizes[:i]) for i in range(len(self._sizes))]  # token 0 starts
        self._model = self._build()
        self._weights = self._read_weights()
        self._masks: dict[tuple[int, ...], list[bool]] = {}  # by prefix; the budget never changes
        self._buffer: list[tuple[Architecture, float]] = []  # rewards waiting for the next update
        self._baseline = [0.0, 0.0]  # numerator, denominator of the bias-corrected moving average
        self.updates = 0

    def config(self):
        return {
            **super().config(),
            "units": self.units,
            "layers": self.layers,
            "learning_rate": self.learning_rate,
            "baseline_decay": self.baseline_decay,
            "batch": self.batch,
            "sample_attempts": self.sample_attempts,
        }

    # -- the Keras model ---------------------------------------------------------

    def _build(self):
        import keras  # pylint: disable=import-outside-toplevel  (the one algorithm with Keras: only when made)

        steps, widest = len(self._sizes), max(self._sizes)
        tokens = keras.Input((steps,), dtype="int32", name="previous_choice")
        mask = keras.Input((steps, widest), name="mask")
        x = keras.layers.Embedding(1 + sum(self._sizes), self.units, name="embedding")(tokens)
        for i in range(self.layers):
            x = keras.layers.LSTM(self.units, return_sequences=True, name=f"lstm_{i}")(x)
        # One softmax head per decision point: a (units x options) kernel per step, padded to the widest.
        logits = keras.layers.EinsumDense("btu,tun->btn", output_shape=(steps, widest), bias_axes="tn",
                                          name="heads")(x)
        model = keras.Model([tokens, mask], keras.layers.Add(name="masked_logits")([logits, mask]),
                            name="controller")
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        init = np.random.RandomState(self.seed)
        model.set_weights([init.uniform(-_INIT_SCALE, _INIT_SCALE, w.shape).astype("float32")
                           for w in model.get_weights()])
        model.optimizer.build(model.trainable_variables)
        return model

    def _read_weights(self) -> dict[str, Any]:
        layer = self._model.get_layer
        return {
            "embedding": layer("embedding").get_weights()[0],
            "lstm": [layer(f"lstm_{i}").get_weights() for i in range(self.layers)],
            "heads": layer("heads").get_weights(),
        }

    # -- sampling ------------------------------------------------------------------

    def _allowed(self, prefix: list[int], step: int) -> list[bool]:
        """Which options of `step` can still complete `prefix` into a feasible network."""
        key = tuple(prefix)
        if key in self._masks:
            return self._masks[key]
        rest = [0] * (len(self._sizes) - step - 1)
        out = self._masks[key] = []
        for option in range(self._sizes[step]):
            arch = Architecture(prefix + [option] + rest)
            out.append(self.reachable(arch, step))
        return out

    def _policy(self, arch: Optional[Architecture], temperature: float = 1.0):
        """Steps the LSTM along `arch` (or draws one when None): the choices, their masks, the distributions.

        A step whose options are all masked (a cost that is not monotone in the
        options) opens every option again; the draw is then checked for feasibility.
        """

        w = self._weights
        state = [(np.zeros(self.units, "float32"), np.zeros(self.units, "float32")) for _ in range(self.layers)]
        token, choices, masks, policy = 0, [], [], []
        for step, size in enumerate(self._sizes):
            x = w["embedding"][token]
            for i, (kernel, recurrent, bias) in enumerate(w["lstm"]):
                h, c = state[i]
                z = x @ kernel + h @ recurrent + bias
                gate_i, gate_f, gate_c, gate_o = np.split(z, 4)
                c = _sigmoid(gate_f) * c + _sigmoid(gate_i) * np.tanh(gate_c)
                h = _sigmoid(gate_o) * np.tanh(c)
                state[i] = (h, c)
                x = h
            allowed = self._allowed(choices, step)
            if not any(allowed):
                allowed = [True] * size
            logits = (x @ w["heads"][0][step] + w["heads"][1][step])[:size].astype("float64")
            logits = np.where(allowed, logits / temperature, -np.inf)
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            policy.append(probs.tolist())
            if arch is None:
                choice = int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum(), side="right"))
                choice = min(choice, size - 1)
                while not allowed[choice]:  # rounding at the edge of the cumulative sum
                    choice -= 1
            else:
                choice = arch[step]
            choices.append(choice)
            masks.append(allowed)
            token = self._offsets[step] + choice
        return Architecture(choices), masks, policy

    def probabilities(self, arch: Architecture) -> list[list[float]]:
        """The policy's distribution at each decision point along `arch`, masked as when drawing it."""
        return self._policy(arch)[2]

    def _inputs(self, archs: list[Architecture]):
        widest = max(self._sizes)
        tokens = np.zeros((len(archs), len(self._sizes)), "int32")
        masks = np.full((len(archs), len(self._sizes), widest), _MASKED, "float32")
        for row, arch in enumerate(archs):
            _, allowed, _ = self._policy(arch)
            for step, choice in enumerate(arch[:-1]):
                tokens[row, step + 1] = self._offsets[step] + choice
            for step, ok in enumerate(allowed):
                masks[row, step, :len(ok)] = [0.0 if a else _MASKED for a in ok]
        return tokens, masks

    # -- learning ------------------------------------------------------------------

    def _learn(self, arch: Architecture, reward: float) -> None:
        num, den = self._baseline
        advantage = reward - num / den if den else 0.0  # the first reward has no earlier one to compare with
        self._baseline = [self.baseline_decay * num + (1 - self.baseline_decay) * reward,
                          self.baseline_decay * den + (1 - self.baseline_decay)]
        self._buffer.append((arch, advantage))
        if len(self._buffer) < self.batch:
            return

        archs = [a for a, _ in self._buffer]
        tokens, masks = self._inputs(archs)
        targets = np.asarray(archs, "int32")
        weights = np.repeat(np.asarray([[adv] for _, adv in self._buffer], "float32"), len(self._sizes), axis=1)
        self._model.train_on_batch([tokens, masks], targets, sample_weight=weights)
        self._weights = self._read_weights()
        self._buffer = []
        self.updates += 1

    # -- the ask/tell hooks ----------------------------------------------------------

    def _draw(self, attempt: int) -> Architecture:
        return self._policy(None, temperature=2.0 ** (attempt // _DRAWS_PER_TEMPERATURE))[0]

    def _extra_state(self):
        optimizer = self._model.optimizer
        return {
            "weights": [w.tolist() for w in self._model.get_weights()],
            "optimizer": [v.numpy().tolist() for v in optimizer.variables],
            "buffer": [[str(a), adv] for a, adv in self._buffer],
            "baseline": self._baseline,
            "updates": self.updates,
            "exhausted": self._exhausted,
        }

    def _load_extra_state(self, state):
        self._model.set_weights([np.asarray(w, "float32") for w in state["weights"]])
        for variable, value in zip(self._model.optimizer.variables, state["optimizer"]):
            variable.assign(np.asarray(value, variable.dtype))
        self._weights = self._read_weights()
        self._buffer = [(self.space.parse(a), adv) for a, adv in state["buffer"]]
        self._baseline = list(state["baseline"])
        self.updates = state["updates"]
        self._exhausted = state["exhausted"]
