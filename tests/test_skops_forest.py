"""Random forests and extra trees read from skops files without scikit-learn
(predictor/loading/skops_forest.py): bit for bit what the same file loaded by skops predicts, for
every class read, with and without missing values, small batches and large (walked in numpy, or
by the compiled trees built once beside the requests); and every file this does not read as
scikit-learn would, left to skops."""

from __future__ import annotations

import io
import itertools
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from predictor.errors import UntrustedArtifact
from predictor.kernels import forest_walk
from predictor.loading import forest_models, skops_forest, skops_reader
from predictor.loading.artifact import load_artifact

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # probes: matrices

NAMES = [f"feature {i}" for i in range(5)]
RNG = np.random.default_rng(11)
TRAIN = pd.DataFrame(RNG.normal(0, 3, (300, len(NAMES))), columns=NAMES)
TRAIN_GAPS = TRAIN.mask(RNG.random(TRAIN.shape) < 0.15)  # trees learn where a gap goes
SCORE = np.nan_to_num(TRAIN_GAPS.to_numpy()) @ RNG.normal(0, 1, len(NAMES)) + RNG.normal(0, 0.5, 300)
LABELS = {
    "integers": (SCORE > 0).astype(int),
    "strings": np.where(SCORE > 1, "high", np.where(SCORE < -1, "low", "middle")),
}
MODELS = {
    "RandomForestRegressor": lambda: RandomForestRegressor(30, random_state=0),
    "RandomForestRegressor depth 4": lambda: RandomForestRegressor(12, max_depth=4, random_state=0),
    "ExtraTreesRegressor": lambda: ExtraTreesRegressor(20, random_state=0),
    "RandomForestClassifier": lambda: RandomForestClassifier(25, random_state=0),
    "ExtraTreesClassifier": lambda: ExtraTreesClassifier(15, max_depth=6, random_state=0),
}


def fitted(name, labels="strings", gaps=True, fitted_on="frame"):
    X = TRAIN_GAPS if gaps else TRAIN
    X = X if fitted_on == "frame" else X.to_numpy()
    return MODELS[name]().fit(X, SCORE if "Regressor" in name else LABELS[labels])


def round_trip(model):
    """The model as skops loads its file, and as the reader reads it."""
    data = skops.io.dumps(model)
    return skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data)), skops_reader.read(data)


def probes(rows, gaps=0.2):
    X = RNG.normal(0, 4, (rows, len(NAMES)))
    X[RNG.random(X.shape) < gaps] = np.nan
    return X


def bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("fitted_on", ["frame", "array"])
@pytest.mark.parametrize("gaps", [True, False], ids=["fitted with gaps", "fitted without"])
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")  # a probability of 0, both sides
def test_read_without_scikit_learn_answers_bit_for_bit(name, fitted_on, gaps):
    loaded, read = round_trip(fitted(name, gaps=gaps, fitted_on=fitted_on))
    assert type(read).__name__ == type(loaded).__name__ and isinstance(read, forest_models.ReadForest)
    assert read.n_features_in_ == loaded.n_features_in_
    assert (fitted_on == "frame") == hasattr(read, "feature_names_in_")
    chunk = forest_walk.CHUNK_PAIRS // len(loaded.estimators_)
    for rows in (1, 3, chunk, chunk + 1):  # one chunk of rows, and past it
        for X in (probes(rows), probes(rows, gaps=0)):
            assert bits(read.predict(X)) == bits(loaded.predict(X)), rows
            if hasattr(loaded, "predict_proba"):
                assert bits(read.predict_proba(X)) == bits(loaded.predict_proba(X))
                assert bits(read.predict_log_proba(X)) == bits(loaded.predict_log_proba(X))
                assert list(read.classes_) == list(loaded.classes_)


@pytest.mark.parametrize("name", ["RandomForestRegressor", "RandomForestClassifier"])
@pytest.mark.parametrize("threads", [1, 2])
def test_large_batches_answer_the_same_walked_or_compiled(name, threads):
    """A batch of COMPILED_FROM pairs or more is walked in numpy (shared among `threads`) until
    scikit-learn's compiled trees are built beside it, then by them: the same bits both ways."""
    loaded, read = round_trip(fitted(name, labels="integers"))
    read.use_threads(threads)
    rows = forest_models.COMPILED_FROM // len(loaded.estimators_) + 7
    X = probes(rows)
    expected = bits(loaded.predict(X))
    assert bits(read.kernel(X)) == expected  # walked, the build started
    compiled = read.kernel.compiled.get(wait=True)
    assert compiled is not None and compiled.threads == threads
    assert bits(read.kernel(X)) == expected  # compiled
    assert bits(read.predict(X[:3])) == bits(loaded.predict(X[:3]))  # small batches stay walked


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_a_value_float32_cannot_hold_is_refused_as_scikit_learn_refuses_it():
    loaded, read = round_trip(fitted("RandomForestRegressor"))
    X = probes(2, gaps=0)
    X[1, 2] = 1e300
    with pytest.raises(ValueError, match="too large for dtype"):
        loaded.predict(X)
    for predict in (read.predict, read.kernel):
        with pytest.raises(ValueError, match="too large for dtype"):
            predict(X)


@pytest.mark.parametrize("shape", [(3,), (2, 4), (2, 6)])
def test_an_input_of_another_shape_is_refused(shape):
    _, read = round_trip(fitted("ExtraTreesRegressor"))
    with pytest.raises(ValueError, match="5 features"):
        read.predict(np.zeros(shape))


def test_the_read_forest_crosses_processes_and_answers_the_same():
    """Pickled as the loader process hands it back: rebuilt from its trees and walk."""
    import pickle

    _, read = round_trip(fitted("RandomForestClassifier"))
    again = pickle.loads(pickle.dumps(read))
    X = probes(40)
    assert type(again).__name__ == "RandomForestClassifier"
    assert bits(again.predict_proba(X)) == bits(read.predict_proba(X))


def edited(model, edit=None, arrays=None):
    """The model's skops file, its schema changed by `edit`, its .npy files by `arrays` (a
    function of the schema giving {file: new array})."""
    source = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model)))
    schema = json.loads(source.read("schema.json"))
    if edit:
        edit(schema)
    replaced = arrays(schema, source) if arrays else {}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            if item == "schema.json":
                target.writestr(item, json.dumps(schema))
            elif item in replaced:
                buffer = io.BytesIO()
                np.save(buffer, replaced[item], allow_pickle=False)
                target.writestr(item, buffer.getvalue())
            else:
                target.writestr(item, source.read(item))
    return out.getvalue()


SMALL = RandomForestRegressor(3, max_depth=3, random_state=0).fit(TRAIN, SCORE)


def first_tree(schema):
    return schema["content"]["content"]["estimators_"]["content"][0]["content"]["content"]["tree_"]


def nodes_changed(change):
    """SMALL's file with its first tree's node records changed by `change(records)`."""

    def arrays(schema, source):
        name = first_tree(schema)["content"]["content"]["nodes"]["file"]
        records = np.load(io.BytesIO(source.read(name))).copy()
        change(records)
        return {name: records}

    return edited(SMALL, arrays=arrays)


def set_field(records, field, node, value):
    records[field][node] = value


def depth_recorded(depth):
    """SMALL's file with its first tree recording `depth` (a node of its own: skops gives every
    node of one `__id__` the first one's value)."""

    def edit(schema):
        first_tree(schema)["content"]["content"]["max_depth"].update(content=json.dumps(depth), __id__=1)

    return edited(SMALL, edit)


def forest_state(schema):
    return schema["content"]["content"]


def first_member(schema):
    return forest_state(schema)["estimators_"]["content"][0]["content"]["content"]


def tree_state(schema):
    return first_tree(schema)["content"]["content"]


def unreachable(records):
    """The root's left child made a leaf: the nodes beneath it hang from nothing."""
    child = records["left_child"][0]
    records["left_child"][child] = records["right_child"][child] = -1


_ids = itertools.count(-1, -1)


def change(node, **fields):
    """`node` changed by `fields`, under an `__id__` of its own (skops gives every node of one
    `__id__` the first one's value)."""
    node.update(fields, __id__=next(_ids))


def drop(dict_node, key):
    """`key` gone from a dict node, with one of its key types (skops pairs them up)."""
    dict_node["content"].pop(key)
    dict_node["key_types"]["content"].pop()


def classes_file(schema, source):
    return {forest_state(schema)["classes_"]["file"]: np.zeros((2, 2))}


LABELLED = RandomForestClassifier(3, max_depth=3, random_state=0).fit(TRAIN, LABELS["strings"])
NUMBERED = RandomForestClassifier(3, max_depth=3, random_state=0).fit(TRAIN, LABELS["integers"])
# what else a file may hold that the reader leaves to skops (each: a schema edit, or arrays)
ODD = {
    "a field that is not data": edited(SMALL, lambda s: change(forest_state(s)["bootstrap"], __loader__="X")),
    "names of another width": edited(SMALL, lambda s: change(forest_state(s)["n_features_in_"], content="7")),
    "a classifier without classes": edited(LABELLED, lambda s: drop(s["content"], "classes_")),
    "classes in two dimensions": edited(NUMBERED, arrays=classes_file),
    "no trees": edited(SMALL, lambda s: forest_state(s)["estimators_"].update(content=[])),
    "a member holding more than data": edited(
        SMALL, lambda s: change(first_member(s)["criterion"], __loader__="X")
    ),
    "a member of another width": edited(
        SMALL, lambda s: change(first_member(s)["n_features_in_"], content="9")
    ),
    "a tree without its values": edited(SMALL, lambda s: drop(first_tree(s)["content"], "values")),
    "a tree holding more than data": edited(
        SMALL, lambda s: change(tree_state(s)["max_depth"], __loader__="X")
    ),
    "a tree of another width": edited(
        SMALL, lambda s: change(first_tree(s)["__reduce__"]["args"]["content"][0], content="9")
    ),
    "a node count that is not a number": edited(
        SMALL, lambda s: change(tree_state(s)["node_count"], content='"15"')
    ),
    "a node count that is not the records'": edited(
        SMALL, lambda s: change(tree_state(s)["node_count"], content="3")
    ),
    "nodes no path reaches": nodes_changed(unreachable),
}
UNSOUND = {
    "a child outside the tree": nodes_changed(lambda r: set_field(r, "left_child", 0, len(r) + 5)),
    "a child before its parent": nodes_changed(lambda r: set_field(r, "right_child", 1, 0)),
    "a split on a feature past the width": nodes_changed(lambda r: set_field(r, "feature", 0, 9)),
    "a recorded depth below the deepest leaf": depth_recorded(1),
}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            skops.io.dumps(RandomForestRegressor(3, random_state=0).fit(TRAIN, np.c_[SCORE, SCORE])),
            id="two outputs",
        ),
        pytest.param(
            skops.io.dumps(RandomForestRegressor(3, random_state=np.random.RandomState(0)).fit(TRAIN, SCORE)),
            id="a random state object",
        ),
        pytest.param(
            skops.io.dumps(GradientBoostingRegressor(n_estimators=3).fit(TRAIN, SCORE)), id="boosting"
        ),
        pytest.param(
            edited(
                SMALL,
                lambda s: s["content"]["content"]["estimators_"]["content"][1].update(
                    __class__="ExtraTreeRegressor"
                ),
            ),
            id="a member of another kind",
        ),
        pytest.param(
            edited(
                SMALL,
                arrays=lambda schema, source: {
                    first_tree(schema)["content"]["content"]["values"]["file"]: np.zeros((2, 1, 1))
                },
            ),
            id="values of another shape",
        ),
        pytest.param(
            edited(
                SMALL,
                arrays=lambda schema, source: {
                    first_tree(schema)["content"]["content"]["nodes"]["file"]: np.zeros(
                        15, dtype=[("a", "<i8")]
                    )
                },
            ),
            id="node records of another layout",
        ),
        *(pytest.param(data, id=name) for name, data in {**ODD, **UNSOUND}.items()),
    ],
)
def test_anything_else_is_left_to_skops(data):
    assert skops_reader.read(data) is None


@pytest.mark.parametrize("name", sorted(UNSOUND))
def test_an_unsound_tree_is_refused_by_the_skops_path_as_before(name, tmp_path):
    """What the reader leaves, skops loads and the tree checks refuse (503 model_untrusted)."""
    path = tmp_path / "forest.skops"
    path.write_bytes(UNSOUND[name])
    with pytest.raises(UntrustedArtifact):
        load_artifact(path)


@pytest.mark.parametrize("forest, member", sorted(skops_forest.FORESTS.items()))
def test_the_reader_names_each_forest_and_its_members_as_scikit_learn_does(forest, member):
    import sklearn.ensemble

    estimator = getattr(sklearn.ensemble, forest[1])()
    assert (type(estimator).__module__, type(estimator).__name__) == forest
    assert (type(estimator.estimator).__module__, type(estimator.estimator).__name__) == member


@pytest.mark.parametrize(
    "first, second, same",
    [
        ({"a": {"__id__": 1, "b": "x"}}, {"a": {"__id__": 2, "b": "x"}}, True),  # inner ids apart
        ({"a": 1}, {"a": 1.0}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": [1, "x"]}, {"a": [1, "y"]}, False),
    ],
)
def test_nodes_of_one_id_must_be_the_same_but_for_the_ids_within(first, second, same):
    """skops gives every node of an `__id__` the first one's value; the reader reads each."""
    from predictor.loading.skops_nodes import unaliased

    schema = {"content": [{"__id__": 7, **first}, {"__id__": 7, **second}]}
    assert unaliased(schema) is same


def test_when_scikit_learn_refuses_the_nodes_large_batches_stay_walked(caplog):
    """Node records whose fields come in another order: the walk reads them by name, scikit-learn's
    `Tree` refuses the layout; the compiled trees are not built (logged) and the walk answers."""

    def reordered(schema, source):
        replaced = {}
        for member in forest_state(schema)["estimators_"]["content"]:
            name = member["content"]["content"]["tree_"]["content"]["content"]["nodes"]["file"]
            records = np.load(io.BytesIO(source.read(name)))
            fields = list(reversed(records.dtype.names))
            replaced[name] = np.array(
                [tuple(row[f] for f in fields) for row in records],
                dtype=[(f, records.dtype.fields[f][0]) for f in fields],
            )
        return replaced

    read = skops_reader.read(edited(SMALL, arrays=reordered))
    X = probes(forest_models.COMPILED_FROM // len(SMALL.estimators_) + 1)
    expected = bits(SMALL.predict(X))
    assert bits(read.kernel(X)) == expected
    assert read.kernel.compiled.get(wait=True) is None
    assert "could not build the forest's compiled trees" in caplog.text
    assert bits(read.kernel(X)) == expected


@pytest.mark.parametrize("spare", [-1, 0], ids=["no room", "room"])
def test_large_batches_stay_walked_where_the_instance_has_no_room_for_the_compiled_trees(
    monkeypatch, caplog, spare
):
    """The compiled trees (a copy of the nodes and values, and scikit-learn's import where it is
    not imported yet) are built only where the instance's memory leaves room for them and the
    reserve; else it is logged and the walk answers every batch."""
    from predictor import headroom

    read = skops_reader.read(skops.io.dumps(SMALL))
    copied = sum(t.tree_.__getstate__()["nodes"].nbytes + t.tree_.value.nbytes for t in SMALL.estimators_)
    monkeypatch.setattr(headroom, "available_bytes", lambda: copied + headroom.RESERVE_BYTES + spare)
    X = probes(forest_models.COMPILED_FROM // len(SMALL.estimators_) + 1)
    expected = bits(SMALL.predict(X))
    assert bits(read.kernel(X)) == expected
    built = read.kernel.compiled.get(wait=True)
    assert (built is not None) == (spare == 0)
    assert ("not building the forest's compiled trees" in caplog.text) == (spare < 0)
    assert bits(read.kernel(X)) == expected
