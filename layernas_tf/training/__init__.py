"""Training a candidate: input pipelines (`data`), strategies (`distribute`), the proxy fit (`trainer`), the trial body (`worker`).

Imports TensorFlow and Keras: this is what runs in a worker. The search
(`layernas_tf.core`, `layernas_tf.algorithms`) and the trial runner
(`layernas_tf.trials`) never import it; they hand workers a `SearchConfig` and a
trial id and get metrics back.
"""
