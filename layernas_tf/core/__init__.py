"""The search itself, in pure Python: what a space is, what a trial's status is, the front, costs as people write them.

Owns the search-space contract (`space`), the one vocabulary of trial statuses
(`status`), the frozen trial records every reader picks from (`records`), the answer and the
Pareto front (`front`), the one estimator of a reward's noise (`noise`) and how budgets are parsed and shown
(`units`). Imports nothing but the standard library: the algorithms
(`layernas_tf.algorithms`) build on it, and both run and test without TensorFlow.
"""
