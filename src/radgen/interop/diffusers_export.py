"""A radgen DDPM as a folder diffusers reads: ``DDPMPipeline.from_pretrained(DIR)`` samples what radgen samples.

radgen trains diffusers' ``UNet2DModel`` with diffusers' ``DDPMScheduler`` (Ho et al. 2020; ``variance_type``
``fixed_small``, ``clip_sample`` for pixel models), so the export is the pipeline's own layout written with
``save_pretrained``:

- ``unet/``: the EMA weights (what radgen samples with) when the model keeps an EMA, else the trained weights;
  ``config.json`` carries the block types that radgen derives from ``attention_resolutions``;
- ``scheduler/``: the training schedule (T, betas, prediction type, clipping);
- ``model_index.json``: ``DDPMPipeline`` for an unconditional model; ``ClassConditionalDDPMPipeline`` (below:
  class labels and classifier-free guidance, Ho & Salimans 2022, with radgen's extra null class) for a
  class-conditional one;
- ``radgen.json``: the class names, the null class index, the guidance scale radgen used and the radgen model
  config, by which :func:`import_diffusers` (and ``radgen.load(DIR)``) builds the radgen model back.

With the same generator, the DDPM sampler of both gives the same images (radgen's loop and diffusers' pipeline
draw x_T and every step's noise in the same order). The latent diffusion model is not exported here: its
pipeline needs the autoencoder's scaling, which diffusers' ``AutoencoderKL`` folder alone does not carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor

from radgen.errors import ConfigError

RADGEN_JSON = "radgen.json"  # class names, null class and guidance beside diffusers' files


class ClassConditionalDDPMPipeline(DiffusionPipeline):
    """DDPM sampling of a class-conditional ``UNet2DModel`` whose last class embedding is the "null" class
    (label dropout at training), with classifier-free guidance:
    eps = eps(x, null) + w * (eps(x, y) - eps(x, null)) (Ho & Salimans 2022; w = 1: the conditional model)."""

    model_cpu_offload_seq = "unet"

    def __init__(self, unet, scheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    @torch.no_grad()
    def __call__(
        self,
        class_labels: torch.Tensor | list[int],
        *,
        guidance_scale: float = 3.0,
        num_inference_steps: int | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ):
        labels = torch.as_tensor(class_labels, dtype=torch.long, device=self.device).reshape(-1)
        null = self.unet.config.num_class_embeds - 1
        if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < null):
            raise ValueError(f"class_labels must be in 0..{null - 1}")
        size = self.unet.config.sample_size
        shape = (len(labels), self.unet.config.in_channels, size, size)
        image = randn_tensor(shape, generator=generator, device=self.device, dtype=self.unet.dtype)  # 1. x_T
        steps = num_inference_steps or self.scheduler.config.num_train_timesteps
        self.scheduler.set_timesteps(steps)
        for t in self.progress_bar(self.scheduler.timesteps):
            tt = torch.full((len(labels),), int(t), device=self.device, dtype=torch.long)
            if guidance_scale == 1.0:  # 2. the network's output, guided
                eps = self.unet(image, tt, class_labels=labels).sample
            else:
                both = self.unet(
                    torch.cat([image, image]),
                    torch.cat([tt, tt]),
                    class_labels=torch.cat([labels, torch.full_like(labels, null)]),
                ).sample
                cond, uncond = both.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            image = self.scheduler.step(eps, int(t), image, generator=generator).prev_sample  # 3. x_{t-1}
        image = (image.clamp(-1, 1) / 2 + 0.5).clamp(0, 1)
        out = image.cpu().permute(0, 2, 3, 1).numpy()
        if output_type == "pil":
            out = self.numpy_to_pil(out)
        return ImagePipelineOutput(images=out) if return_dict else (out,)


def _model_section(model) -> dict[str, Any]:
    """The model's config as the export's ``model`` section (plain values: JSON-safe)."""
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(model.config), default=list))


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
    """The radgen DDPM a :func:`export_diffusers` folder holds, in eval mode: the model built from
    ``radgen.json``'s config, its UNet (and EMA, when the export took the EMA) given the folder's weights, the class
    names set. Sampling it gives what the original model gives for the same generator (tested)."""
    from diffusers import UNet2DModel

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
    except RuntimeError as exc:
        raise ConfigError(
            f"{folder}: unet/ does not match radgen.json's model ({' '.join(str(exc).split())[:120]})"
        ) from None
    names = info.get("class_names") or None
    if names:
        model.class_names = tuple(names)
    return model.eval()


def export_diffusers(run: str | Path, out: str | Path) -> Path:
    """Write ``run``'s DDPM as a diffusers pipeline folder ``out`` (which must not exist); returns ``out``."""
    from diffusers import DDPMPipeline

    from radgen.models import load_exported
    from radgen.models.ddpm import DDPM
    from radgen.sampling import assembled_output

    model, meta = load_exported(run)
    if type(model) is not DDPM:  # a subclass (latent diffusion) diffuses somewhere else
        raise ConfigError(
            f"{run}: a {model.config.name} model; --format diffusers exports the pixel-space ddpm only "
            "(the latent model's pipeline also needs its autoencoder's scaling)"
        )
    unet = model.ema if model.ema is not None else model.unet
    scheduler = model.make_scheduler("ddpm")
    pipe = ClassConditionalDDPMPipeline(unet, scheduler) if model.supports_labels else DDPMPipeline(unet, scheduler)
    info: dict[str, Any] = {
        "made_by": "radgen",
        "model": model.config.name,
        "weights": "ema" if model.ema is not None else "trained",
        "class_names": list((meta.get("data") or {}).get("class_names") or []),
        "null_class": model.k if model.supports_labels else None,
        "guidance_scale": float(model.config.guidance_scale) if model.supports_labels else None,
        "pipeline": type(pipe).__name__,
        "radgen_model": _model_section(model),
        "load_with": "radgen.interop.diffusers_export.ClassConditionalDDPMPipeline.from_pretrained(DIR)"
        if model.supports_labels
        else "diffusers.DDPMPipeline.from_pretrained(DIR)",
    }
    with assembled_output(out, overwrite=False, command="export") as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        (tmp / RADGEN_JSON).write_text(json.dumps(info, indent=1) + "\n")
    return Path(out)
