"""One rank of tests/test_torch_dtensor.py's multi-process runs (gloo, CPU).

Usage: python _torch_dist_worker.py RANK WORLD_SIZE STORE_FILE OUT_FILE [no-transformers]

Every rank fills DTensors (and initializes FSDP2-sharded modules) with fastki.torch; the
gathered values (full_tensor()) are saved by rank 0 to OUT_FILE as {case name: tensor},
for the test to compare with the single-process values.  Every rank also records its
local shards' shapes, so the test can see that the shards really were split.  The cases
and models are defined here and imported by the test (cases(), models()).
"""
import os
import sys

import torch
from torch import nn

SEED = 31337


def fills():
    """(name, fill(tensor) -> tensor, ndim it needs or None)."""
    import fastki.torch as ft
    return [
        ("uniform_", lambda t: ft.uniform_(t, -1.0, 2.0, seed=SEED, stream=1), None),
        ("normal_", lambda t: ft.normal_(t, 0.5, 2.0, seed=SEED, stream=2), None),
        ("trunc_normal_", lambda t: ft.trunc_normal_(t, 0.0, 0.5, seed=SEED, stream=3), None),
        ("xavier_uniform_", lambda t: ft.xavier_uniform_(t, seed=SEED, stream=4), None),
        ("kaiming_normal_", lambda t: ft.kaiming_normal_(t, seed=SEED, stream=5), None),
        ("orthogonal_", lambda t: ft.orthogonal_(t, 1.5, seed=SEED, stream=6), None),
        ("constant_", lambda t: ft.constant_(t, 0.25), None),
        ("sparse_", lambda t: ft.sparse_(t, 0.4, seed=SEED, stream=7), 2),
        ("eye_", lambda t: ft.eye_(t), 2),
        ("dirac_", lambda t: ft.dirac_(t, 2), 3),
    ]


def cases(world):
    """(case name, shape, mesh shape, placements as strings, dtype)."""
    out = []
    shapes = [(7, 5), (3, 10), (4, 2, 9)]  # uneven rows; fewer rows than ranks; 3-D
    one_d = ["S0", "S1", "R"]
    for shape in shapes:
        for placement in one_d + (["S2"] if len(shape) == 3 else []):
            out.append((f"{shape}-{placement}", shape, (world,), (placement,), "float32"))
    out.append(("(9, 6)-S1-bf16", (9, 6), (world,), ("S1",), "bfloat16"))
    if world == 4:  # a 2x2 mesh
        for placements in (("S0", "S1"), ("S1", "S0"), ("S0", "S0"), ("R", "S1"), ("S1", "R")):
            for shape in ((7, 5), (4, 2, 9)):
                out.append((f"{shape}-2x2-{'.'.join(placements)}", shape, (2, 2), placements,
                            "float32"))
    return out


def placement(text):
    from torch.distributed.tensor import Replicate, Shard
    return Replicate() if text == "R" else Shard(int(text[1:]))


def models(with_transformers=True):
    """name -> builder() of a small model, the same in every process; GPT-2 and Llama
    from transformers when asked for and installed."""
    def blocks():
        return nn.Sequential(nn.Embedding(50, 16, padding_idx=31),
                             nn.TransformerEncoderLayer(16, 2, 32),
                             nn.TransformerEncoderLayer(16, 2, 32), nn.LayerNorm(16),
                             nn.Linear(16, 50))

    out = {"blocks": blocks}
    if not with_transformers:
        return out
    try:
        import transformers
    except ImportError:
        return out

    def gpt2():
        config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100,
                                         n_positions=16, bos_token_id=0, eos_token_id=0)
        return transformers.GPT2LMHeadModel(config)

    def llama():
        config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=2,
                                          num_key_value_heads=1, intermediate_size=48,
                                          vocab_size=100, max_position_embeddings=32,
                                          bos_token_id=0, eos_token_id=0, pad_token_id=77)
        return transformers.LlamaForCausalLM(config)

    out.update(gpt2=gpt2, llama=llama)
    return out


def tp_mlp():
    """A tensor-parallel MLP for the 2x2 (dp, tp) mesh: under FSDP2 the column-parallel
    Linear's weight is _StridedShard(0) x Shard(0), the row-parallel one Shard(0) x Shard(1)."""
    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 7), nn.LayerNorm(7))


def shard_tp_mlp(model, mesh):
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                   parallelize_module)
    parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
    fully_shard(model, mesh=mesh["dp"])
    return model


def shard_blocks(model, mesh):
    """FSDP2: every submodule that is a block of the model, then the root."""
    from torch.distributed.fsdp import fully_shard
    for module in list(model.modules())[1:]:
        if isinstance(module, nn.TransformerEncoderLayer) or type(module).__name__ in (
                "GPT2Block", "LlamaDecoderLayer"):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def main():
    rank, world, store, out_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with_transformers = sys.argv[5:] != ["no-transformers"]
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, distribute_tensor
    import fastki.torch as ft

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    torch.manual_seed(rank)  # the ranks' own RNGs differ: fastki's values must not
    results, local_shapes = {}, {}
    meshes = {}
    for name, shape, mesh_shape, placements, dtype in cases(world):
        if mesh_shape not in meshes:
            meshes[mesh_shape] = init_device_mesh("cpu", mesh_shape)
        mesh = meshes[mesh_shape]
        for fill_name, fill, ndim in fills():
            if ndim is not None and len(shape) != ndim:
                continue
            if dtype == "bfloat16" and fill_name not in ("normal_", "uniform_"):
                continue
            key = f"{name}-{fill_name}"
            t = distribute_tensor(torch.full(shape, 7.0, dtype=getattr(torch, dtype)), mesh,
                                  [placement(p) for p in placements])
            assert fill(t) is t
            results[key] = t.full_tensor()
            local_shapes[key] = tuple(t.to_local().shape)

    # FSDP2-sharded models: eager (parameters already on the CPU) and built on meta.  Every
    # array fastki generates for them is recorded: a rank makes its shards' values only
    generated = []
    api = ft._fills._api  # the module whose fills fastki.torch calls
    real = {name: getattr(api, name) for name in ("uniform", "normal", "truncated_normal")}

    def recording(fn):
        def call(shape, *args, out=None, **kwargs):
            generated.append((tuple(out.shape), tuple(shape)))
            return fn(shape, *args, out=out, **kwargs)
        return call

    for name, fn in real.items():
        setattr(api, name, recording(fn))
    fsdp_mesh = init_device_mesh("cpu", (world,))
    for model_name, build in models(with_transformers).items():
        torch.manual_seed(100 + rank)
        eager = shard_blocks(build(), fsdp_mesh)
        ft.init_module(eager, SEED)
        with torch.device("meta"):
            meta = build()
        shard_blocks(meta, fsdp_mesh)
        ft.init_module(meta, SEED, device="cpu")
        for label, model in (("eager", eager), ("meta", meta)):
            for pname, param in model.named_parameters():
                assert isinstance(param, DTensor), pname
                key = f"model-{model_name}-{label}-{pname}"
                results[key] = param.full_tensor()
                local_shapes[key] = tuple(param.to_local().shape)

    for name, fn in real.items():
        setattr(api, name, fn)
    local_shapes["generated"] = generated

    if world == 4:  # FSDP x TP on a 2x2 mesh
        mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
        eager = shard_tp_mlp(tp_mlp(), mesh)
        ft.init_module(eager, SEED)
        with torch.device("meta"):
            meta = tp_mlp()
        shard_tp_mlp(meta, mesh)
        ft.init_module(meta, SEED, device="cpu")
        for label, model in (("eager", eager), ("meta", meta)):
            for pname, param in model.named_parameters():
                key = f"model-tp_mlp-{label}-{pname}"
                results[key] = param.full_tensor()
                local_shapes[key] = (tuple(param.to_local().shape), str(param.placements))

    gathered = [None] * world
    dist.all_gather_object(gathered, local_shapes)
    if rank == 0:
        torch.save({"results": results, "local_shapes": gathered}, out_path)
    dist.barrier()
    dist.destroy_process_group()
    # Leave without the interpreter's teardown: gloo's background threads can still be
    # joinable when C++ static destructors run, and then std::terminate aborts the process
    # ("terminate called without an active exception", exit -6) after all the work is done
    # and saved -- seen once in 2-rank runs on 2 busy cores. The results are on disk.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
