"""Train networks and sweep over them: the model, the training loop, the initializer benchmark and
the regression-vs-classification study.

- ``model``: ``SequenceModel`` (``nn.RNN``/``LSTM``/``GRU`` + linear readout, PyTorch's keys);
- ``train``: the training loop behind ``rnndyn train`` (and every worker of ``bench``/``study``);
- ``bench/``: the resumable grid runner over tasks × archs × inits × seeds;
- ``study``: trains a population per task kind and compares it (``rnndyn study``).
"""
