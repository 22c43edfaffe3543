"""Distributed training on the CPU (gloo): DDP and FSDP2 through the one trainer.

One-rank process groups (an in-memory store) check in this process that wrapping every System
changes nothing; two processes (``torch.multiprocessing.spawn``, file rendezvous, one thread
each) check sharding, equality across ranks, exact resume and who writes files; one slow test
goes through ``torchrun -m solarmodels train``.
"""
import datetime
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch

from solarmodels import create_model, create_system
from solarmodels.datasets.pairs import SyntheticPairs
from solarmodels.trainer import Trainer, _EpochSampler

ROOT = pathlib.Path(__file__).resolve().parents[1]


class VideoPairs(torch.utils.data.Dataset):
    """Tiny light-curve → video samples: (1, T, H, W) in [-1, 1] and a (T,) condition."""

    def __init__(self, n, frames=4, size=8, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.x = torch.rand(n, 1, frames, size, size, generator=g) * 2 - 1
        self.c = self.x.mean(dim=(1, 3, 4))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input": self.x[i], "cond": self.c[i]}


def _system(kind, seed=0):
    """A tiny system of each family and its training data."""
    torch.manual_seed(seed)
    if kind in ("pix2pix_a", "pix2pix_b"):
        g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4)
        cfg = {"discriminator_config": {"ndf": 4, "n_layers": 1}} if kind == "pix2pix_b" else {}
        return create_system(kind, cfg, {"g": g}), SyntheticPairs(8, 16)
    if kind in ("pix2pixhd", "pix2pixcc"):
        name = "pix2pixhd_global" if kind == "pix2pixhd" else "pix2pixcc_generator"
        g = create_model(name, in_channels=1, out_channels=1, ngf=4, n_down=2, n_blocks=1)
        return create_system(kind, {"discriminator_config": {"ndf": 4}}, g), SyntheticPairs(8, 16)
    if kind == "ddpm":
        net = create_model("ddpm_unet_tiny", base_channels=8, attention_factors=())
        data = [{"input": x, "label": torch.tensor(i % 5)}
                for i, x in enumerate(SyntheticPairs(8, 8).y)]
        return create_system("ddpm", {"sample_steps": 2}, {"model": net}), data
    if kind == "video_rflow":
        net = create_model("stdit_tiny", hidden_size=16, num_heads=2, depth=1, mapping_size=16,
                           max_length=4)
        return create_system("video_rflow", {"sample_steps": 2}, {"model": net}), VideoPairs(8)
    if kind == "solared":
        from solarmodels.datasets.solared import SolaredDataset, synthetic_solared

        net = create_model("solared_attention_grid", time_steps=4, d_model=8, nhead=2,
                           num_layers=1, dim_feedforward=8, dropout=0.0)
        ds = synthetic_solared(8, window=4, seed=2, splits=(1.0, 0.0, 0.0))
        return create_system("solared", {"lr": 3e-3}, net), SolaredDataset(ds, "train")
    raise KeyError(kind)


def _weights(system):
    return {k: v.detach().clone() for k, v in system.state_dict().items()}


@pytest.fixture
def one_rank_group():
    """Destroy the one-rank process group a test's trainer made."""
    from solarmodels import distributed

    yield
    distributed.shutdown()


@pytest.mark.parametrize("kind", ["pix2pix_a", "pix2pix_b", "pix2pixhd", "pix2pixcc", "ddpm",
                                  "video_rflow", "solared"])
def test_ddp_on_one_rank_equals_the_plain_run(kind, tmp_path, one_rank_group):
    # bitwise: one-rank DDP copies gradients into buckets and divides by 1; a frozen
    # discriminator (GAN generator step) must not leave DDP waiting for gradients
    cfg = dict(steps=2, batch_size=2, grad_accum=2, ema_decay=0.5, progress=False,
               tensorboard=False, log_every=1)
    plain, data = _system(kind)
    Trainer(plain, data, None, cfg, tmp_path / "plain").fit()
    ddp, data = _system(kind)
    trainer = Trainer(ddp, data, None, {**cfg, "parallel": "ddp"}, tmp_path / "ddp")
    trainer.fit()
    assert trainer.dist.enabled and set(trainer._wrapped) == set(ddp.networks)
    a, b = _weights(plain), _weights(ddp)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), kind


def test_fsdp_on_one_rank_trains_saves_and_resumes(tmp_path, one_rank_group):
    from solarmodels.checkpoint import load_checkpoint

    cfg = dict(steps=3, batch_size=2, ema_decay=0.5, progress=False, tensorboard=False,
               parallel="fsdp", grad_clip=1.0)
    full, data = _system("video_rflow")
    Trainer(full, data, None, cfg, tmp_path / "full").fit()
    part, _ = _system("video_rflow")
    Trainer(part, data, None, cfg, tmp_path / "part").fit(stop_at=1)
    resumed, _ = _system("video_rflow", seed=5)
    Trainer(resumed, data, None, cfg, tmp_path / "part").fit()
    ck = tmp_path / "part" / "checkpoints" / "step_00000003"
    assert (ck / "sharded" / ".metadata").is_file() and (ck / "weights.safetensors").is_file()
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "step_00000003")["weights"]
    b = load_checkpoint(ck)["weights"]
    assert a.keys() == set(_weights(full)) and any(k.startswith("ema.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_incomplete_launch_environment_and_bad_settings(tmp_path, monkeypatch):
    from solarmodels.config import ConfigError
    from solarmodels.errors import DistributedError

    system, data = _system("pix2pix_a")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(DistributedError, match="RANK.*not set: launch with torchrun"):
        Trainer(system, data, None, dict(device="cpu"), tmp_path)
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ConfigError, match="train.parallel must be one of"):
        Trainer(system, data, None, dict(parallel="zero3"), tmp_path)


def test_sampler_splits_each_global_batch_across_ranks():
    one = _EpochSampler(11, 3, 2, 0, batch_size=4).indices
    ranks = [_EpochSampler(11, 3, 2, 0, batch_size=2, rank=r, world_size=2).indices
             for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 4                  # 2 global batches of 4, 3 dropped
    for step in range(2):                                        # rank 0 | rank 1 == batch of 4
        assert ranks[0][2 * step:2 * step + 2] + ranks[1][2 * step:2 * step + 2] == \
            one[4 * step:4 * step + 4]
    later = _EpochSampler(11, 3, 2, 4, batch_size=2, rank=1, world_size=2).indices
    assert later == ranks[1][2:]                                # offset in global samples


# --------------------------------------------------------------------------- two processes

def _no_norm_p2p():
    torch.manual_seed(0)
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4,
                     norm="none", dropout=0.0)
    return create_system("pix2pix_a", None, g)


def _gan(seed=0):
    torch.manual_seed(seed)                 # batch norm, dropout, EMA, schedule, two optimisers
    g = create_model("pix2pix_unet", in_channels=1, out_channels=1, image_size=16, ngf=4)
    return create_system("pix2pix_b", {"discriminator_config": {"ndf": 4, "n_layers": 1},
                                       "lr_decay_start": 2}, {"g": g})


def _same_on_every_rank(system):
    import torch.distributed as dist

    flat = torch.cat([v.detach().double().reshape(-1) for v in system.state_dict().values()])
    gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    assert all(torch.equal(gathered[0], g) for g in gathered[1:]), "ranks differ"


def _rows(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _worker(rank, world, tmp):
    import torch.distributed as dist

    torch.set_num_threads(1)
    tmp = pathlib.Path(tmp)
    runs = tmp / "runs"
    writes = []
    if rank == 1:
        def audit(event, args):
            if event == "open" and isinstance(args[0], (str, os.PathLike)) and args[1] and \
                    any(c in str(args[1]) for c in "wax+"):
                writes.append(str(args[0]))
            elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"):
                writes.append(str(args[0]))
        sys.addaudithook(audit)
    dist.init_process_group("gloo", init_method=f"file://{tmp / 'rendezvous'}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=180))
    try:
        # 2 ranks x batch 2 (no batch norm): the reference is 1 process x batch 4 (parent)
        system = _no_norm_p2p()
        Trainer(system, SyntheticPairs(8, 16), None,
                dict(steps=3, batch_size=2, progress=False, log_every=1), runs / "pair").fit()
        _same_on_every_rank(system)
        # GAN with batch norm and dropout: stop at step 2 and resume == uninterrupted, bitwise
        cfg = dict(steps=5, batch_size=2, grad_accum=2, ema_decay=0.8, grad_clip=1.0,
                   progress=False, log_every=2, eval_every=3, checkpoint_every=0, image_every=4)
        train, val = SyntheticPairs(10, 16, seed=1), SyntheticPairs(3, 16, seed=2)
        full = _gan()
        Trainer(full, train, val, cfg, runs / "full").fit()
        _same_on_every_rank(full)
        Trainer(_gan(), train, val, cfg, runs / "part").fit(stop_at=2)
        resumed = _gan(seed=7)
        Trainer(resumed, train, val, cfg, runs / "part").fit()
        _same_on_every_rank(resumed)
        a, b = full.state_dict(), resumed.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), "resumed run differs"
        if rank == 0:
            assert _rows(runs / "full") == _rows(runs / "part")
        # FSDP2 (the video transformer): same, weights consolidated on rank 0
        cfg = dict(steps=3, batch_size=1, ema_decay=0.5, progress=False, parallel="fsdp",
                   tensorboard=False)
        video, data = _system("video_rflow")
        Trainer(video, data, None, cfg, runs / "fsdp_full").fit()
        Trainer(_system("video_rflow")[0], data, None, cfg, runs / "fsdp_part").fit(stop_at=1)
        Trainer(_system("video_rflow", seed=3)[0], data, None, cfg, runs / "fsdp_part").fit()
    finally:
        dist.destroy_process_group()
    if rank == 1:
        (tmp / "rank1_writes.json").write_text(json.dumps(writes))


@pytest.mark.slow
def test_two_ranks_ddp_fsdp_resume_and_rank0_files(tmp_path):
    import torch.multiprocessing as mp
    from safetensors.torch import load_file

    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    runs = tmp_path / "runs"
    # 2 ranks x batch 2 == 1 process x batch 4
    single = _no_norm_p2p()
    Trainer(single, SyntheticPairs(8, 16), None, dict(steps=3, batch_size=4, progress=False),
            tmp_path / "single").fit()
    two = load_file(runs / "pair" / "checkpoints" / "step_00000003" / "weights.safetensors")
    for k, v in single.state_dict().items():
        torch.testing.assert_close(two[k], v, rtol=0, atol=1e-6, msg=k)
    meta = json.loads((runs / "pair" / "checkpoints" / "step_00000003" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["parallel"] == "ddp"
    # resumed GAN checkpoint == uninterrupted one; each rank's RNG saved
    ck = runs / "part" / "checkpoints" / "step_00000005"
    assert sorted(p.name for p in ck.iterdir()) == ["config.json", "meta.json", "rank_00001.pt",
                                                    "state.pt", "weights.safetensors"]
    a = load_file(runs / "full" / "checkpoints" / "step_00000005" / "weights.safetensors")
    b = load_file(ck / "weights.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    if importlib.util.find_spec("tensorboard") is not None:  # the models extra
        assert list((runs / "full" / "tensorboard").glob("events.out.tfevents.*"))
    # FSDP: resumed == uninterrupted, one consolidated safetensors file + the shards
    ck = runs / "fsdp_part" / "checkpoints" / "step_00000003"
    a = load_file(runs / "fsdp_full" / "checkpoints" / "step_00000003" / "weights.safetensors")
    b = load_file(ck / "weights.safetensors")
    assert set(a) == set(_system("video_rflow")[0].state_dict()) | {
        f"ema.{k}" for k in _system("video_rflow")[0].networks.state_dict()}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert {p.name for p in (ck / "sharded").iterdir()} == {".metadata", "__0_0.distcp",
                                                            "__1_0.distcp"}
    # rank 1 wrote only its RNG state and its FSDP shard, inside checkpoint temporaries
    writes = [pathlib.Path(p) for p in json.loads((tmp_path / "rank1_writes.json").read_text())]
    ours = [p for p in writes if str(p).startswith(str(runs))]
    assert ours, "the audit hook saw nothing"
    # (torch.save writes from C++, unseen by the hook: rank_00001.pt is checked above)
    assert {p.name for p in ours} == {"sharded", "__1_0.distcp"}, ours
    assert all(p.relative_to(runs).parts[2].startswith(".step_")    # solarprep.io.atomic names
               and ".tmp-" in p.relative_to(runs).parts[2] for p in ours), ours


@pytest.mark.slow
def test_torchrun_two_processes_smoke(tmp_path):
    # torchrun's own rendezvous binds a free port on localhost (the only network use in tests)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text("""
model = "pix2pix_unet"
system = "pix2pix_b"
[model_config]
in_channels = 1
out_channels = 1
image_size = 16
ngf = 4
[system_config.discriminator_config]
ndf = 4
n_layers = 1
[data]
dataset = "synthetic_pairs"
n = 8
n_val = 2
size = 16
[train]
steps = 3
batch_size = 2
device = "cpu"
progress = false
eval_every = 3
log_every = 1
""")
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", "-m", "solarmodels", "train", str(cfg),
                           "--run-dir", str(run), "--minutes", "10"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])        # printed by rank 0 only
    assert result["step"] == 3 and proc.stdout.count('"step"') == 1
    meta = json.loads((run / "checkpoints" / "step_00000003" / "meta.json").read_text())
    assert meta["world_size"] == 2 and meta["parallel"] == "ddp" and meta["train"]["minutes"] == 10
    assert (run / "checkpoints" / "step_00000003" / "rank_00001.pt").is_file()
