"""`python -m fastki bench --scale` at toy size: both parts run and their checks hold."""
import pytest

pytest.importorskip("torch")
pytest.importorskip("dask")
pytest.importorskip("zarr")

from fastki.bench import scale as _scale  # noqa: E402


def test_zarr_demo_writes_and_matches(tmp_path):
    result = _scale.zarr_demo(1 / 64, str(tmp_path))   # 16 MiB: 256 rows of 16384
    assert result["shape"] == [256, 16384]
    assert result["chunks"] == 1
    assert result["bytes_equal"] is True
    assert (tmp_path / "normal.zarr").exists()


def test_model_demo_is_thread_independent():
    result = _scale.model_demo(repeat=1, vocab=1000, context=64, width=32, depth=2)
    # 2 embeddings, 2 blocks of (2 LayerNorms, 4 Linears), a final LayerNorm; head tied
    width, hidden = 32, 4 * 32
    per_block = 2 * 2 * width + (width * 3 * width + 3 * width) + (width * width + width) \
        + (width * hidden + hidden) + (hidden * width + width)
    assert result["parameters"] == 1000 * width + 64 * width + 2 * per_block + 2 * width
    assert result["same_bytes_1_thread_vs_all"] is True
    assert result["fastki_init_module_s"] > 0 and result["torch_default_s"] > 0
