"""Deployment: the answer (or any trial) as a SavedModel and a TFLite file, each checked with LiteRT.

`tflite`: the forms and their checks for any Keras model. `trial_export`: a trial's
network from its study, with its kept weights or trained again, exported.
`final_training`: the answer trained with a full recipe, then exported (the library
behind `python -m layernas_tf.train` and `SearchResult.train`). Imports TensorFlow.
"""
