"""What a network costs, counted at its deployment size.

`graph`: MAdds by profiling a model's TensorFlow graph, the ground truth the spaces'
exact analytic counters are held to (imports TensorFlow). `layers`: the same count for
any built Keras model, from its layers' shapes, without tracing (imports Keras). `latency_model`: a device
profile and the predictor a search calls, numpy only. `latency_timing`: measuring a
profile with TFLite and LiteRT (imports TensorFlow). Importing this package imports
none of them.
"""
