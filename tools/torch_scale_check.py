"""A by-hand check of fastki.torch at scale (docs/torch.md): a GPT-2-XL-sized model
(about 1.56 B parameters, transformers' GPT2LMHeadModel from a config, nothing
downloaded) built on the meta device, FSDP2-sharded over WORLD gloo processes on the CPU,
materialized and initialized by fastki.torch.init_module(model, seed, device="cpu").

Each rank reports its peak resident memory against its shards' bytes, and a digest of
every global row it holds (each parameter's dimension 0, which FSDP2 shards); the
launcher compares the digests across world sizes.  The same is then done with
Transformers' own init on torch's generator (to_empty + initialize_weights), whose values
depend on the world size.

    python tools/torch_scale_check.py 1 2 4        # world sizes, run one after another
    SCALE_N_LAYER=12 SCALE_N_EMBD=768 SCALE_N_HEAD=12 python tools/torch_scale_check.py 1 2 4

Not a test: it needs several GiB of memory per run and minutes of CPU time.
"""
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# GPT-2 XL by default; SCALE_N_LAYER=12 SCALE_N_EMBD=768 SCALE_N_HEAD=12 is GPT-2 small
N_LAYER = int(os.environ.get("SCALE_N_LAYER", "48"))
N_EMBD = int(os.environ.get("SCALE_N_EMBD", "1600"))
N_HEAD = int(os.environ.get("SCALE_N_HEAD", "25"))


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row_digests(model, ft):
    """{parameter name: {global row: 8-byte digest}} of the rows this rank holds."""
    out = {}
    for name, param in model.named_parameters():
        local = param.to_local().detach()
        global_rows = ft._memory._part(param).indices[0]  # the global row of each local row
        digests = {}
        if local.numel():
            rows = local.reshape(local.shape[0], -1).numpy()
            for i, g in enumerate(global_rows):
                digests[int(g)] = hashlib.blake2b(rows[i].tobytes(), digest_size=8).hexdigest()
        out[name] = digests
    return out


def rank_main(rank, world, store, out_path, mode):
    import torch
    import torch.distributed as dist
    import transformers
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    import fastki.torch as ft

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    config = transformers.GPT2Config(n_layer=N_LAYER, n_embd=N_EMBD, n_head=N_HEAD)
    before = rss_mib()
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(config)
    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    dist.barrier()
    start = time.perf_counter()
    if mode == "fastki":
        ft.init_module(model, 1234, device="cpu")
    else:  # what a user of torch's generator does: materialize, then the model's own init
        torch.manual_seed(1234)
        model.to_empty(device="cpu")
        for sub in model.modules():
            sub.__dict__.pop("_is_hf_initialized", None)
        model.initialize_weights()
    seconds = time.perf_counter() - start
    peak = rss_mib()
    shard_bytes = sum(p.to_local().numel() * p.to_local().element_size()
                      for p in model.parameters())
    total = sum(p.numel() for p in model.parameters())
    dist.barrier()
    report = {"rank": rank, "seconds": seconds, "peak_rss_mib": peak,
              "rss_before_model_mib": before, "shard_mib": shard_bytes / 2**20,
              "parameters": total, "digests": row_digests(model, ft)}
    with open(f"{out_path}.{rank}", "w") as f:
        json.dump(report, f)
    dist.barrier()
    dist.destroy_process_group()


def launch(world, mode):
    with tempfile.TemporaryDirectory() as tmp:
        store, out = os.path.join(tmp, "store"), os.path.join(tmp, "out")
        procs = [subprocess.Popen([sys.executable, __file__, "--rank", str(r), str(world), store,
                                   out, mode]) for r in range(world)]
        for p in procs:
            if p.wait() != 0:
                raise SystemExit(f"a rank failed (world {world}, {mode})")
        reports = []
        for r in range(world):
            with open(f"{out}.{r}") as f:
                reports.append(json.load(f))
    digests = {}
    for rep in reports:
        for name, rows in rep["digests"].items():
            digests.setdefault(name, {}).update(rows)
    for rep in reports:
        growth = rep["peak_rss_mib"] - rep["rss_before_model_mib"]
        print(f"{mode:6s} world {world} rank {rep['rank']}: {rep['parameters'] / 1e9:.2f} B "
              f"parameters, shard {rep['shard_mib']:.0f} MiB, peak RSS {rep['peak_rss_mib']:.0f} "
              f"MiB ({growth:.0f} MiB above the {rep['rss_before_model_mib']:.0f} MiB of the "
              f"imports: {growth / rep['shard_mib']:.2f} x shard), init {rep['seconds']:.1f} s",
              flush=True)
    return digests


def main():
    if sys.argv[1] == "--rank":
        rank_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
        return
    worlds = [int(w) for w in sys.argv[1:]] or [1, 2, 4]
    for mode in ("fastki", "torch"):
        first = None
        for world in worlds:
            digests = launch(world, mode)
            if first is None:
                first = digests
                continue
            rows = sum(len(v) for v in first.values())
            differ = sum(first[n][r] != digests[n][r] for n in first for r in first[n])
            print(f"{mode:6s} world {world} vs world {worlds[0]}: {differ} of {rows} rows differ",
                  flush=True)


if __name__ == "__main__":
    main()
