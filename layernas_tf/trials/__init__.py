"""Running trials: who decides, who trains, who stores (keras-tuner's split, `engine/base_tuner.py`).

The algorithm (`layernas_tf.algorithms`) decides what to try; an executor
(`executors`: this process, worker processes, Ray actors) trains it by calling a
picklable objective in its workers; the runner (`runner`) keeps both going and is
the only writer of the study (`study`: SQLite, every trial and the algorithm's
state in one transaction). `artefacts` says where a trial's files live.

No TensorFlow here: the objective that trains (`layernas_tf.training.worker`) is
imported by the workers, never by this package, so the driver can run trials on
other machines without starting TensorFlow itself.
"""
