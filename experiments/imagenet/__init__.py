"""The paper's ImageNet table, one runnable recipe per row: `python -m experiments.imagenet --recipe=NAME`.

`recipes` holds the rows (space, budget, proxy, search, final training, the paper's
figure) and runs one: the search through `layernas_tf.search()`, then the answer's
final training and export through the result's `train()`; `__main__` is its
command line. It imports TensorFlow (through `layernas_tf`), unlike the tabular
experiments beside it.
"""
