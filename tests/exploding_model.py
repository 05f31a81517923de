"""A model whose predict has a bug, to prove a bug of ours answers JSON 500 and no traceback."""


class ExplodingModel:
    n_features_in_ = 2

    def predict(self, X):
        raise RuntimeError("secret internal detail")
