"""A radgen diffusion model as a folder diffusers reads; its pipeline samples what radgen samples.

radgen trains diffusers' ``UNet2DModel`` (and, for latent diffusion, diffusers' ``AutoencoderKL``) with diffusers'
schedulers, so the export is a pipeline's own layout written with ``save_pretrained``:

- ``unet/``: the EMA weights (what radgen samples with) when the model keeps an EMA, else the trained weights;
  ``config.json`` carries the block types that radgen derives from ``attention_resolutions``;
- ``scheduler/``: for ``ddpm`` the DDPM schedule (T, betas, prediction type, ``fixed_small``, clipping); for
  ``latent_diffusion`` the scheduler of the model's own sampler (DPM-Solver++ by default), clipping off;
- ``vae/`` (``latent_diffusion`` only): the frozen ``AutoencoderKL`` with ``scaling_factor`` = radgen's
  ``latent_scale`` (1 / std of the training latents) and ``shift_factor`` = its ``latent_shift`` (their mean),
  diffusers' convention z' = (z - shift_factor) * scaling_factor (Rombach et al. 2022, appendix G);
- ``model_index.json``: ``DDPMPipeline`` for an unconditional DDPM; ``ClassConditionalDDPMPipeline`` for a
  class-conditional one; ``RadgenLatentPipeline`` (with its default guidance scale, steps, eta, null class and
  class names) for latent diffusion (``radgen.interop.pipelines``);
- ``radgen.json``: the class names, the null class index, the guidance scale radgen used and the radgen model
  config (no local path: the autoencoder's run folder is dropped, its config and sha256 kept), by which
  :func:`import_diffusers` (and ``radgen.load(DIR)``) builds the radgen model back.

With the same generator, radgen's sampler and the exported pipeline give the same images (they draw x_T and
every step's noise in the same order). Other models are refused: diffusers has no pipeline for radgen's VAEs
and GANs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from radgen.errors import ConfigError
from radgen.interop.pipelines import ClassConditionalDDPMPipeline, RadgenLatentPipeline

__all__ = ["ClassConditionalDDPMPipeline", "RadgenLatentPipeline", "export_diffusers", "import_diffusers"]

RADGEN_JSON = "radgen.json"  # class names, null class and guidance beside diffusers' files


def _model_section(model) -> dict[str, Any]:
    """The model's config as the export's ``model`` section (plain values: JSON-safe; no local path)."""
    from dataclasses import asdict

    section = json.loads(json.dumps(asdict(model.config), default=list))
    if "autoencoder" in section:  # latent diffusion: the first stage's run folder on this machine
        section["autoencoder"] = None  # its config and weights' sha256 stay; the weights are in vae/
    return section


def is_diffusers_export(folder: str | Path) -> bool:
    """True when ``folder`` is a pipeline folder :func:`export_diffusers` wrote (``model_index.json`` and
    ``radgen.json`` with the radgen model config)."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file() or not (folder / RADGEN_JSON).is_file():
        return False
    try:
        return isinstance(json.loads((folder / RADGEN_JSON).read_text()).get("radgen_model"), dict)
    except ValueError:
        return False


def import_diffusers(folder: str | Path):
    """The radgen model a :func:`export_diffusers` folder holds, in eval mode: the model built from
    ``radgen.json``'s config, its UNet (and EMA, when the export took the EMA) given the folder's weights, for
    latent diffusion its autoencoder given ``vae/``'s weights and its latent shift and scale from ``vae/``'s
    ``shift_factor`` and ``scaling_factor``; the class names set. Sampling it gives what the original model gives
    for the same generator (tested)."""
    from diffusers import AutoencoderKL, UNet2DModel

    from radgen.errors import MissingDataError
    from radgen.models.base import build_model, model_config_from_dict

    folder = Path(folder)
    if not is_diffusers_export(folder):
        raise MissingDataError(
            f"{folder}: not a diffusers folder radgen exported (needs model_index.json and radgen.json with "
            "radgen_model); export one with radgen export RUN --format diffusers"
        )
    info = json.loads((folder / RADGEN_JSON).read_text())
    model = build_model(model_config_from_dict(info["radgen_model"]), pretrained=False)
    unet = UNet2DModel.from_pretrained(folder / "unet", use_safetensors=True)
    try:
        model.unet.load_state_dict(unet.state_dict())
        if model.ema is not None:
            model.ema.load_state_dict(unet.state_dict())
        if model.space == "latent":
            vae = AutoencoderKL.from_pretrained(folder / "vae", use_safetensors=True)
            model.autoencoder.vae.load_state_dict(vae.state_dict())
            model.autoencoder.latent_scale.fill_(float(vae.config.scaling_factor))
            model.autoencoder.latent_shift.fill_(float(vae.config.shift_factor or 0.0))
    except (RuntimeError, OSError) as exc:
        raise ConfigError(
            f"{folder}: unet/ or vae/ does not match radgen.json's model ({' '.join(str(exc).split())[:120]})"
        ) from None
    names = info.get("class_names") or None
    if names:
        model.class_names = tuple(names)
    return model.eval()


def _latent_pipeline(model, class_names: list[str]) -> RadgenLatentPipeline:
    """The exported pipeline of a ``latent_diffusion`` model: its UNet (EMA when kept), its autoencoder as a
    diffusers ``AutoencoderKL`` whose config carries radgen's latent scale and shift, its sampler's scheduler."""
    from diffusers import AutoencoderKL

    c = model.config
    ae = model.autoencoder
    vae = AutoencoderKL.from_config(
        {k: v for k, v in ae.vae.config.items() if k != "_use_default_values"},  # else defaults win over kwargs
        scaling_factor=float(ae.latent_scale),  # radgen's z' = (z - shift) * scale
        shift_factor=float(ae.latent_shift),
    )
    vae.load_state_dict(ae.vae.state_dict())
    return RadgenLatentPipeline(
        model.ema if model.ema is not None else model.unet,
        vae.eval(),
        model.make_scheduler(c.sampler),
        null_class=model.k if model.supports_labels else None,
        class_names=class_names or None,
        guidance_scale=float(c.guidance_scale),
        num_inference_steps=int(c.timesteps if c.sampler == "ddpm" else c.sample_steps),
        eta=float(c.eta),
    )


def export_diffusers(run: str | Path, out: str | Path) -> Path:
    """Write ``run``'s DDPM or latent diffusion model as a diffusers pipeline folder ``out`` (which must not
    exist); returns ``out``."""
    from diffusers import DDPMPipeline

    from radgen.models import load_exported
    from radgen.models.ddpm import DDPM
    from radgen.models.latent_diffusion import LatentDiffusion
    from radgen.sampling import assembled_output

    model, meta = load_exported(run)
    if type(model) not in (DDPM, LatentDiffusion):  # presets of the two (seed001_ddpm) are the same classes
        raise ConfigError(
            f"{run}: a {model.config.name} model; --format diffusers exports ddpm and latent_diffusion only "
            "(diffusers has no pipeline for radgen's VAEs and GANs)"
        )
    class_names = [str(c) for c in ((meta.get("data") or {}).get("class_names") or [])]
    latent = model.space == "latent"
    if latent:
        pipe = _latent_pipeline(model, class_names)
        load_with = "radgen.interop.pipelines.RadgenLatentPipeline.from_pretrained(DIR)"
    else:
        unet = model.ema if model.ema is not None else model.unet
        scheduler = model.make_scheduler("ddpm")
        if model.supports_labels:
            pipe = ClassConditionalDDPMPipeline(unet, scheduler)
            load_with = "radgen.interop.diffusers_export.ClassConditionalDDPMPipeline.from_pretrained(DIR)"
        else:
            pipe = DDPMPipeline(unet, scheduler)
            load_with = "diffusers.DDPMPipeline.from_pretrained(DIR)"
    info: dict[str, Any] = {
        "made_by": "radgen",
        "model": model.config.name,
        "weights": "ema" if model.ema is not None else "trained",
        "class_names": class_names,
        "null_class": model.k if model.supports_labels else None,
        "guidance_scale": float(model.config.guidance_scale) if model.supports_labels else None,
        "pipeline": type(pipe).__name__,
        "radgen_model": _model_section(model),
        "load_with": load_with,
    }
    if latent:
        info["sampler"] = model.config.sampler
        info["scaling_factor"] = float(model.autoencoder.latent_scale)
        info["shift_factor"] = float(model.autoencoder.latent_shift)
    with assembled_output(out, overwrite=False, command="export") as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        (tmp / RADGEN_JSON).write_text(json.dumps(info, indent=1) + "\n")
    return Path(out)
