"""layernas_tf: LayerNAS neural architecture search for TensorFlow/Keras."""

from setuptools import find_packages, setup

setup(
    name="layernas_tf",
    version="0.1.0",
    description="LayerNAS: multi-trial NAS in polynomial complexity, for TensorFlow/Keras",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["layernas_tf", "layernas_tf.*", "search_spaces", "search_spaces.*"]),
    # Tested with tensorflow 2.21.0, keras 3.15.1, tensorboard 2.21.0, tensorflow-datasets 4.9.10,
    # ai-edge-litert 2.3.0, scikit-learn 1.9.1, scipy 1.17.1, numpy 2.4.6, matplotlib 3.11.2, absl-py 2.5.1.
    install_requires=[
        "absl-py>=2.1,<3",
        "ai-edge-litert>=2.3,<3",  # runs and checks the exported TFLite models
        "importlib_resources>=6",  # tensorflow-datasets needs it to download, without declaring it
        "keras>=3.15,<4",
        "matplotlib>=3.8,<4",
        "numpy>=2.0,<3",
        "pillow>=10",
        "scikit-learn>=1.5,<2",  # ships the embedded default dataset (digits)
        "scipy>=1.11,<2",  # the proxy check's rank correlations (tested: 1.17.1)
        "tensorboard>=2.21,<2.22",
        "tensorflow>=2.21,<2.22",
        "tensorflow-datasets>=4.9.10,<5",
    ],
    extras_require={
        # The official NATS-Bench release reader (tested: nats_bench 1.8).
        "nats": ["nats_bench==1.8"],
        # Trials on a Ray cluster: --executor=ray (tested: ray 2.60.0).
        "ray": ["ray>=2.60,<2.61"],
        # LayerNAS inside KerasTuner: layernas_tf.keras_tuner (tested: keras-tuner 1.4.8).
        "tuner": ["keras-tuner==1.4.8"],
        "test": ["pytest>=8,<10", "pytest-xdist>=3.8,<4", "hypothesis>=6.100,<7", "nats_bench==1.8", "ray>=2.60,<2.61",
                 "keras-tuner==1.4.8",
                 # An outside peer in benchmarks/search_quality.py (Optuna's TPE sampler).
                 "optuna==5.0.0"],
    },
)
