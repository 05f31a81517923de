import hashlib
import stat

import pytest

from predictor.errors import ArtifactNotFound
from predictor.loading.storage import fetch

TIMEOUT = 30.0


def test_single_object_is_downloaded_with_its_generation(gcs, artifacts, tmp_path):
    uri = gcs.upload(artifacts["cloudpickle file"], "storage-single", "wine/model.pkl")
    blob = gcs.client.bucket("storage-single").get_blob("wine/model.pkl")
    fetched = fetch(uri, tmp_path, TIMEOUT)
    assert fetched.path == tmp_path / "model.pkl"
    assert fetched.path.read_bytes() == artifacts["cloudpickle file"].read_bytes()
    assert fetched.generations == {"wine/model.pkl": blob.generation}
    assert not list(tmp_path.glob("**/*.partial"))


@pytest.mark.parametrize("suffix", ["", "/"])
def test_folder_prefix_is_downloaded_whole(gcs, artifacts, tmp_path, suffix):
    source = artifacts["mlflow skops"]
    uri = gcs.upload(source, "storage-folder", "exp/1/artifacts/model")
    fetched = fetch(uri + suffix, tmp_path, TIMEOUT)
    local = {p.relative_to(source).as_posix(): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    got = {
        p.relative_to(fetched.path).as_posix(): p.read_bytes() for p in fetched.path.rglob("*") if p.is_file()
    }
    assert got == local
    assert set(fetched.generations) == {f"exp/1/artifacts/model/{name}" for name in local}


def test_a_prefix_does_not_match_a_longer_sibling(gcs, artifacts, tmp_path):
    gcs.upload(artifacts["mlflow skops"], "storage-sibling", "model-v2")
    with pytest.raises(ArtifactNotFound, match="no object or folder at gs://storage-sibling/model"):
        fetch("gs://storage-sibling/model", tmp_path, TIMEOUT)


def test_missing_bucket_is_not_found(gcs, tmp_path):
    with pytest.raises(ArtifactNotFound, match="gs://no-such-bucket-here/model"):
        fetch("gs://no-such-bucket-here/model", tmp_path, TIMEOUT)


def test_local_paths_are_read_in_place(artifacts, tmp_path):
    assert fetch(str(artifacts["skops file"]), tmp_path, TIMEOUT).path == artifacts["skops file"]
    assert not list(tmp_path.iterdir())
    with pytest.raises(ArtifactNotFound, match="no model file or folder"):
        fetch(str(tmp_path / "missing.pkl"), tmp_path, TIMEOUT)


def test_download_dir_is_private_and_removed_after_loading(gcs, artifacts, monkeypatch):
    """The loader downloads into a 0700 temporary folder and deletes it once the model is in memory."""
    import tempfile

    from predictor.loading import load as loading
    from predictor.loading import storage

    seen = []
    real_fetch = storage.fetch

    def spy(uri, workdir, *args):
        fetched = real_fetch(uri, workdir, *args)
        seen.append(
            (
                workdir,
                stat.S_IMODE(workdir.stat().st_mode),
                hashlib.sha256(fetched.path.read_bytes()).hexdigest(),
            )
        )
        return fetched

    monkeypatch.setattr(storage, "fetch", spy)
    uri = gcs.upload(artifacts["skops file"], "storage-private", "model.skops")
    served = loading.load_served_model(uri)
    ((workdir, mode, digest),) = seen
    assert mode == 0o700 and workdir.parent == __import__("pathlib").Path(tempfile.gettempdir())
    assert not workdir.exists()
    assert served.artifact.sha256 == digest
