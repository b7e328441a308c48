"""mnv2.dask.classify_files on a 2-worker LocalCluster equals single-process results."""

import numpy as np
import pytest

pytest.importorskip("pandas")
pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import mnv2  # noqa: E402
import mnv2.dask  # noqa: E402

LABELS = [f"class {i}" for i in range(1001)]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, memory_limit=0)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_classify_files_on_local_cluster(client, ppm_images):
    paths, bad = ppm_images
    files = paths + [bad]
    df = mnv2.dask.classify_files(files, synthetic=(0.35, 96), partitions=3, top=3, embedding=True,
                                  labels=LABELS, batch=2)
    assert list(df["path"]) == files
    single = mnv2.Model(synthetic=(0.35, 96), threads=1, labels=LABELS)
    for i, p in enumerate(paths):
        row = df.iloc[i]
        ref = single.classify(p, top=3)
        assert row["error"] is None
        assert row["indices"] == [e["index"] for e in ref]
        assert row["labels"] == [e["label"] for e in ref]
        assert row["label"] == ref[0]["label"]
        np.testing.assert_allclose(row["probabilities"], [e["probability"] for e in ref], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(row["embedding"], single.embed(p), rtol=1e-5, atol=1e-6)
    last = df.iloc[-1]
    assert "corrupt.ppm" in last["error"] and last["labels"] == [] and np.isnan(last["probability"])

    # A second call reuses the workers' models: each worker process built at most one.
    df2 = mnv2.dask.classify_files(paths, synthetic=(0.35, 96), partitions=4, top=3, labels=LABELS)
    assert list(df2["indices"]) == list(df["indices"][: len(paths)])
    loads = client.run(mnv2.dask.loaded_models)
    assert len(loads) == 2
    assert all(n <= 1 for n in loads.values()) and sum(loads.values()) >= 1


def test_lazy_result_and_model_objects(client, ppm_images):
    paths, _ = ppm_images
    m = mnv2.Model(synthetic=(0.35, 96), threads=1, labels=LABELS)
    lazy = mnv2.dask.classify_files(paths[:3], model=m, partitions=2, compute=False)
    assert lazy.npartitions == 2
    df = lazy.compute()
    assert list(df["label"]) == [m.classify(p, top=1)[0]["label"] for p in paths[:3]]
