"""NAS-Bench-Macro's space: 8 layers of identity or MobileNetV2 blocks, its cost looked up in its table.

The benchmark's rewards live with their reader (`experiments/tables.py`); the
space is a space like any other, so it lives here.
"""

from __future__ import annotations

from layernas_tf.core.space import Architecture, DecisionPoint, SearchSpace


class NASBenchMacroSpace(SearchSpace):
    """NAS-Bench-Macro's 8 layers, each identity (0), MB3_K3 (1) or MB6_K5 (2): 6,561 networks.

    The cost is the benchmark's `flops` column (multiply-adds at 32x32), so the
    space lives with its table. The default is MB6_K5 everywhere, the largest
    network, as LayerNAS starts from.
    """

    name = "nas_bench_macro"
    STAGES = (2, 3, 3)

    def __init__(self, flops: dict[str, int], params: dict[str, int]):
        options = ("identity", "mb3_k3", "mb6_k5")
        points = [DecisionPoint(f"stage{s}_layer{i}", options, default=2)
                  for s, layers in enumerate(self.STAGES) for i in range(layers)]
        super().__init__(points)
        self._flops, self._params = flops, params

    def key(self, arch: Architecture) -> str:
        return "".join(str(i) for i in arch)

    def canonical(self, arch: Architecture) -> Architecture:
        """Identities among the later layers of a stage moved to its end, as the benchmark's `get_real_arch`.

        An identity there passes its input through, so where it sits does not
        change the network (the first layer of a stage strides, so it stays put):
        6,561 strings, 3,969 networks.
        """
        out, start = [], 0
        for layers in self.STAGES:
            first, rest = arch[start], arch[start + 1:start + layers]
            out += [first] + [i for i in rest if i != 0] + [i for i in rest if i == 0]
            start += layers
        return Architecture(out)

    def cost(self, arch: Architecture) -> int:
        return self._flops[self.key(arch)]

    madds = cost

    def params(self, arch: Architecture) -> int:
        return self._params[self.key(arch)]
