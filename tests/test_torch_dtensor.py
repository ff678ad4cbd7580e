"""fastki.torch on DTensor parameters, in real multi-process runs (gloo on the CPU).

Each run starts WORLD processes of tests/_torch_dist_worker.py; every rank fills only its
local shard with that shard's block of the global tensor, and the gathered values
(full_tensor()) must equal, byte for byte, the same fill of a plain tensor in this one
process -- for Shard(d) on every dimension, uneven shards (one of them empty), Replicate,
a 2x2 mesh, and FSDP2 fully_shard'ed models (transformer blocks, GPT-2 and Llama from
transformers when installed), built eagerly or on the meta device.
"""
import os
import pathlib
import subprocess
import sys

import pytest

# process groups of several interpreters: the plain suite runs them, the wheel and
# sanitizer suites skip them (tests/conftest.py)
pytestmark = pytest.mark.integration

torch = pytest.importorskip("torch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is needed", allow_module_level=True)

import fastki.torch as ft  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _torch_dist_worker as worker  # noqa: E402

TIMEOUT = 300  # seconds for a whole run; on 2 cores 4 ranks take well under a minute


def raw(tensor):
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def run_world(world, tmp_path, with_transformers):
    store, out = tmp_path / "store", tmp_path / "out.pt"
    env = dict(os.environ, OMP_NUM_THREADS="1", FASTKI_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, str(HERE / "_torch_dist_worker.py"), str(rank),
                               str(world), str(store), str(out)]
                              + ([] if with_transformers else ["no-transformers"]), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(world)]
    errors = []
    try:
        for rank, proc in enumerate(procs):
            _, err = proc.communicate(timeout=TIMEOUT)
            if proc.returncode != 0:
                errors.append(f"rank {rank} exited {proc.returncode}:\n{err[-3000:]}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not errors, "\n".join(errors)
    return torch.load(out)


def expected_fill(shape, dtype, fill):
    return fill(torch.full(shape, 7.0, dtype=getattr(torch, dtype)))


@pytest.fixture(scope="module")
def single_process_models():
    out = {}
    for name, build in worker.models().items():
        torch.manual_seed(5)
        model = build()
        ft.init_module(model, worker.SEED)
        out[name] = {k: v.detach().clone() for k, v in model.named_parameters()}
    return out


# GPT-2 and Llama on 1, 2 and 4 ranks; 3 ranks run the fills and the transformer blocks
# only (each process importing transformers costs seconds on a 2-core machine)
@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_sharded_fills_and_models_equal_single_process(world, tmp_path, single_process_models):
    with_transformers = world != 3
    data = run_world(world, tmp_path, with_transformers)
    results, local_shapes = data["results"], data["local_shapes"]
    checked = 0
    for name, shape, mesh_shape, placements, dtype in worker.cases(world):
        for fill_name, fill, ndim in worker.fills():
            key = f"{name}-{fill_name}"
            if key not in results:
                continue
            expected = expected_fill(shape, dtype, fill)
            assert results[key].dtype == expected.dtype, key
            assert raw(results[key]) == raw(expected), key
            shapes = [shapes_of_rank[key] for shapes_of_rank in local_shapes]
            if world > 1 and "R" not in placements:  # really split: each rank held a part
                assert all(s != tuple(shape) for s in shapes), (key, shapes)
                assert sum(map(_numel, shapes)) == _numel(shape), (key, shapes)
            checked += 1
    assert checked >= 40
    n_fills = checked
    for model_name, params in single_process_models.items():
        if model_name != "blocks" and not with_transformers:
            continue
        for label in ("eager", "meta"):
            for pname, expected in params.items():
                key = f"model-{model_name}-{label}-{pname}"
                assert raw(results[key]) == raw(expected), key
                checked += 1
    assert checked > n_fills + 30
    if world == 4:
        reference = ft.init_module(worker.tp_mlp(), worker.SEED)
        for label in ("eager", "meta"):
            for pname, expected in reference.named_parameters():
                key = f"model-tp_mlp-{label}-{pname}"
                assert raw(results[key]) == raw(expected), key
        shape, placements = local_shapes[0]["model-tp_mlp-meta-0.weight"]
        assert placements.startswith("(_StridedShard(dim=0") and shape == (3, 6)
    # padding rows zeroed in the shard that holds them (on 2 ranks, rank 1's)
    for key, row in (("model-blocks-meta-0.weight", 31),
                     ("model-llama-meta-model.embed_tokens.weight", 77)):
        if key in results:
            assert torch.all(results[key][row] == 0) and torch.all(results[key][row - 1] != 0)
    # a rank never generates a whole sharded parameter: every array fastki made for the
    # FSDP2 models (dimension 0 sharded) holds at most ceil(rows / world) of its rows
    for shapes_of_rank in local_shapes:
        generated = shapes_of_rank["generated"]
        assert len(generated) > 20
        for made, whole in generated:
            assert made[0] <= -(-whole[0] // world), (made, whole)
    # the models' parameters were sharded: FSDP2 splits dimension 0
    big = [k for k in results if k.startswith("model-blocks-eager-") and results[k].shape[0] >= 4]
    assert big
    if world > 1:
        for key in big:
            assert local_shapes[0][key][0] < results[key].shape[0], key


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def test_worker_cases_cover_every_placement():
    names = [c[0] for c in worker.cases(4)]
    for needle in ("-S0", "-S1", "-S2", "-R", "2x2-S0.S1", "2x2-S0.S0", "bf16"):
        assert any(needle in n for n in names), needle
    assert "(3, 10)-S0" in names  # 3 rows on 4 ranks: one rank's shard is empty
