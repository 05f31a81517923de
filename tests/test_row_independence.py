"""A row's prediction never depends on the other rows of its request: an absent optional value is
the same missing value (NaN) whether or not another row holds one, so an imputer sees a row alone
as it sees it in any batch. It used to reach the model as None when no row had a value."""

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeRegressor

from support import QUICK, in_process

RNG = np.random.default_rng(11)
COLORS = ["red", "white", "rose"]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    n = 300
    frame = pd.DataFrame(
        {
            "color": RNG.choice([*COLORS, None], n),
            "sugar": np.where(RNG.random(n) < 0.2, np.nan, RNG.normal(5, 2, n)),
            "alcohol": RNG.normal(11, 1, n),
        }
    )
    target = (frame["color"].fillna("none").map({"red": 1, "white": 2, "rose": 3, "none": 9})) + frame[
        "alcohol"
    ]
    model = make_pipeline(
        make_column_transformer(
            (
                make_pipeline(SimpleImputer(strategy="constant", fill_value="none"), OneHotEncoder()),
                ["color"],
            ),
            (SimpleImputer(), ["sugar"]),
            remainder="passthrough",
        ),
        DecisionTreeRegressor(max_depth=6, random_state=0),  # leaf values: equal answers are equal bits
    ).fit(frame, target)
    signature = ModelSignature(
        inputs=Schema(
            [
                ColSpec("string", "color", required=False),
                ColSpec("double", "sugar", required=False),
                ColSpec("double", "alcohol"),
            ]
        )
    )
    folder = tmp_path_factory.mktemp("imputing") / "model"
    mlflow.sklearn.save_model(
        model,
        folder,
        signature=signature,
        serialization_format="cloudpickle",
        **QUICK,
    )
    return in_process({"MODEL_URI": str(folder)})


row = st.fixed_dictionaries(
    {"alcohol": st.floats(8, 14)},
    optional={"color": st.sampled_from(COLORS), "sugar": st.floats(0, 10)},  # absent, or a value
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=8))
def test_each_row_answers_alone_as_in_the_batch(app, rows):
    together = app.post("/predict", json=rows)
    assert together.status_code == 200, together.text
    alone = [app.post("/predict", json=[r]).json()[0] for r in rows]
    assert together.json() == alone


def test_a_row_without_a_color_is_imputed_alone_and_beside_one_with_it(app):
    """The case that failed: alone, the absent color reached the imputer as None, not missing."""
    bare = {"alcohol": 11.0}
    alone = app.post("/predict", json=[bare]).json()[0]
    beside = app.post("/predict", json=[bare, {"alcohol": 11.0, "color": "red"}]).json()[0]
    assert alone == beside
