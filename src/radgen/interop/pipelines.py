"""diffusers pipelines for the radgen models diffusers has no pipeline for; each samples what radgen samples.

- :class:`ClassConditionalDDPMPipeline`: a pixel-space DDPM whose ``UNet2DModel`` has radgen's extra "null" class
  embedding (label dropout at training), with classifier-free guidance (Ho & Salimans 2022).
- :class:`RadgenLatentPipeline`: latent diffusion (Rombach et al. 2022): a ``UNet2DModel`` denoising the latents
  of an ``AutoencoderKL``, optionally class-conditional with guidance, decoded by the autoencoder.

Both follow radgen's sampling loop (``radgen.diffusion.sampling.sample_loop``) step for step: x_T drawn first from
the generator, then per timestep the network output (one batched call for the conditional and the null branch,
conditional first), the scheduler's step drawing its noise from the same generator. So for the same generator
and the same weights the images are radgen's (tested in ``tests/interop``).

Latent scaling follows diffusers' convention for ``AutoencoderKL`` configs (``scaling_factor``, ``shift_factor``,
as in its SD3/Flux pipelines), which is radgen's: the UNet denoises z' = (z - shift_factor) * scaling_factor
(Rombach et al. 2022, appendix G), so a sample z' decodes as vae.decode(z' / scaling_factor + shift_factor).
"""

from __future__ import annotations

import inspect

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from diffusers.utils.torch_utils import randn_tensor


def _labels_tensor(class_labels, class_names, n_classes: int, device) -> torch.Tensor:
    """Class labels given as indices or (when the pipeline knows its class names) names -> (B,) long tensor,
    each checked to be in 0..n_classes-1."""
    if isinstance(class_labels, (str, int)):
        class_labels = [class_labels]
    if isinstance(class_labels, (list, tuple)) and any(isinstance(v, str) for v in class_labels):
        names = [str(c) for c in (class_names or [])]
        lower = [c.lower() for c in names]
        idx = []
        for v in class_labels:
            if isinstance(v, str):
                if v in names:
                    idx.append(names.index(v))
                elif v.lower() in lower:
                    idx.append(lower.index(v.lower()))
                else:
                    raise ValueError(f"class label {v!r} is not a class of this model; valid: {', '.join(names)}")
            else:
                idx.append(int(v))
        class_labels = idx
    labels = torch.as_tensor(class_labels, dtype=torch.long).reshape(-1).to(device)
    if len(labels) and not (0 <= int(labels.min()) and int(labels.max()) < n_classes):
        raise ValueError(f"class_labels must be in 0..{n_classes - 1}")
    return labels


def _step_kwargs(scheduler, generator, eta: float) -> dict:
    """What ``scheduler.step`` takes beyond (output, t, x): the generator (if it draws noise), eta (DDIM)."""
    params = inspect.signature(scheduler.step).parameters
    kwargs = {"generator": generator} if "generator" in params else {}
    if "eta" in params:
        kwargs["eta"] = eta
    return kwargs


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


class RadgenLatentPipeline(DiffusionPipeline):
    """Latent diffusion (Rombach et al. 2022) with a ``UNet2DModel`` on an ``AutoencoderKL``'s scaled latents.

    ``null_class``: None for an unconditional UNet; else the index of the "null" class embedding (the last one)
    used for classifier-free guidance, out = out(z, null) + w (out(z, y) - out(z, null)) (Ho & Salimans 2022;
    w = 1: the conditional model alone). ``guidance_scale``, ``num_inference_steps`` and ``eta`` are the
    defaults radgen samples with; ``class_names`` lets ``class_labels`` be given by name. All five are stored in
    ``model_index.json``. The scheduler is the one radgen samples with (DPM-Solver++ by default); another
    diffusers scheduler can replace it, e.g. ``DDPMScheduler.from_config(pipe.scheduler.config,
    clip_sample=False)`` (latents are not confined to [-1, 1]: keep clipping off)."""

    model_cpu_offload_seq = "unet->vae"

    def __init__(
        self,
        unet,
        vae,
        scheduler,
        null_class: int | None = None,
        class_names: list[str] | None = None,
        guidance_scale: float = 1.0,
        num_inference_steps: int = 20,
        eta: float = 0.0,
    ):
        super().__init__()
        self.register_modules(unet=unet, vae=vae, scheduler=scheduler)
        self.register_to_config(
            null_class=null_class,
            class_names=list(class_names) if class_names else None,
            guidance_scale=float(guidance_scale),
            num_inference_steps=int(num_inference_steps),
            eta=float(eta),
        )

    @torch.no_grad()
    def __call__(
        self,
        class_labels: torch.Tensor | list[int] | list[str] | str | int | None = None,
        *,
        batch_size: int | None = None,
        guidance_scale: float | None = None,
        num_inference_steps: int | None = None,
        eta: float | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        return_dict: bool = True,
    ):
        """Sample images in [0, 1]: ``output_type`` "np" (B, H, W, C), "pt" (B, C, H, W) or "pil".
        A class-conditional pipeline needs ``class_labels`` (one per image, or one label and ``batch_size``);
        an unconditional one takes ``batch_size`` only."""
        cfg = self.config
        null = cfg.null_class
        if null is None:
            if class_labels is not None:
                raise ValueError("this pipeline's UNet is unconditional: call it with batch_size, not class_labels")
            labels, n = None, int(batch_size or 1)
        else:
            if class_labels is None:
                raise ValueError(f"this pipeline is class-conditional: pass class_labels (0..{null - 1})")
            labels = _labels_tensor(class_labels, cfg.class_names, null, self.device)
            if len(labels) == 1 and batch_size:
                labels = labels.expand(int(batch_size))
            n = len(labels)
        w = cfg.guidance_scale if guidance_scale is None else float(guidance_scale)
        steps = num_inference_steps or cfg.num_inference_steps
        size = self.unet.config.sample_size
        shape = (n, self.unet.config.in_channels, size, size)

        # 1. z_T ~ N(0, I), scaled by the scheduler's initial sigma (1 for DDPM/DDIM/DPM-Solver++/UniPC)
        self.scheduler.set_timesteps(steps)
        latents = randn_tensor(shape, generator=generator, device=self.device, dtype=self.unet.dtype)
        latents = latents * self.scheduler.init_noise_sigma
        step_kwargs = _step_kwargs(self.scheduler, generator, cfg.eta if eta is None else float(eta))
        for t in self.progress_bar(self.scheduler.timesteps):
            tt = torch.full((n,), int(t), device=self.device, dtype=torch.long)
            z_in = self.scheduler.scale_model_input(latents, t)
            # 2. the network's output (epsilon, v or x_0, as the scheduler's prediction_type says), guided
            if labels is None or w == 1.0:
                out = self.unet(z_in, tt, class_labels=labels).sample
            else:
                both = self.unet(
                    torch.cat([z_in, z_in]),
                    torch.cat([tt, tt]),
                    class_labels=torch.cat([labels, torch.full_like(labels, null)]),
                ).sample
                cond, uncond = both.chunk(2)
                out = uncond + w * (cond - uncond)
            # 3. z_{t-1}
            latents = self.scheduler.step(out, int(t), latents, **step_kwargs).prev_sample
        # 4. unscale (z = z' / scaling_factor + shift_factor) and decode; [-1, 1] -> [0, 1]
        vcfg = self.vae.config
        z = latents / vcfg.scaling_factor + (vcfg.shift_factor or 0.0)
        image = ((self.vae.decode(z).sample + 1.0) / 2.0).clamp(0.0, 1.0)
        if output_type == "pt":
            out_images = image
        else:
            out_images = image.cpu().permute(0, 2, 3, 1).numpy()
            if output_type == "pil":
                out_images = self.numpy_to_pil(out_images)
        return ImagePipelineOutput(images=out_images) if return_dict else (out_images,)
