"""One rank of the CPU FSDP2 check (run by tests/test_fsdp_cpu.py under torchrun, gloo).

Accelerate does not apply FSDP on CPU (see cpt.train.preflight.check_fsdp), so this drives
PyTorch's own ``fully_shard`` directly, with cpt's EWC on the sharded parameters: every rank trains
its half of the same global batch, the EWC Fisher and anchor are DTensors sharded like the weights,
and the model is saved twice: as a sharded DCP checkpoint (reloaded into a fresh sharded model)
and as a full state dict in an HF directory. Not a test module; no tests of its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def main(out_dir: str, steps: int = 4, lam: float = 20.0) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        set_model_state_dict,
    )
    from torch.distributed.fsdp import fully_shard
    from transformers import LlamaConfig, LlamaForCausalLM

    from cpt.train import ewc as ewc_mod

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, tie_word_embeddings=False)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    gen = torch.Generator().manual_seed(1)
    fisher_seqs = [torch.randint(1, 128, (16,), generator=gen).numpy() for _ in range(4)]
    fisher, _meta = ewc_mod.compute_fisher(model, fisher_seqs)  # the base model, unsharded
    batches = [torch.randint(1, 128, (4, 16), generator=gen) for _ in range(steps)]

    def shard(m: torch.nn.Module) -> torch.nn.Module:
        if world > 1:
            for layer in m.model.layers:
                fully_shard(layer)
            fully_shard(m)
        return m

    model = shard(model)
    ewc = ewc_mod.EWC(model, fisher, lam)  # Fisher and anchor placed like each parameter
    first = next(iter(model.parameters()))
    placement = str(getattr(first, "placements", "replicated"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses, penalties = [], []
    per_rank = 4 // world
    for step, batch in enumerate(batches):
        ids = batch[rank * per_rank : (rank + 1) * per_rank]
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        value = ewc.add_gradient()
        full = float(ewc.penalty().detach())  # the differentiable form agrees, on every rank
        assert abs(full - value) <= 1e-6 * max(1.0, abs(value)), (full, value)
        opt.step()
        opt.zero_grad(set_to_none=True)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(float(mean) / world)
        penalties.append(value)
        del step

    out = Path(out_dir)
    # 1. the sharded state dict: DCP save, reload into a freshly sharded model
    dcp.save(get_model_state_dict(model), checkpoint_id=str(out / "dcp"))
    torch.manual_seed(123)
    fresh = shard(LlamaForCausalLM(cfg))
    sd = get_model_state_dict(fresh)
    dcp.load(sd, checkpoint_id=str(out / "dcp"))
    set_model_state_dict(fresh, sd)
    same = all(
        torch.equal(ewc_mod._local(a).detach(), ewc_mod._local(b).detach())
        for a, b in zip(model.parameters(), fresh.parameters())
    )
    # 2. the full state dict, gathered to rank 0, as an HF directory
    full_sd = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
    )
    if rank == 0:
        LlamaForCausalLM(cfg).save_pretrained(out / "hf", state_dict=full_sd)
        info = {"losses": losses, "penalties": penalties, "world": world,
                "placement": placement, "dcp_reload_equal": same,
                "ewc_bytes_rank0": ewc.memory_bytes()}  # fmt: skip
        (out / "result.json").write_text(json.dumps(info))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
