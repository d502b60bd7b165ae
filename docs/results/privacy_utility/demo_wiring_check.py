"""One-off check of run_demo's privacy wiring: the quick demo with the privacy stage switched on (epsilon 1 and 8)."""

import sys

import radgen.experiments.demo as demo

orig = demo.demo_plan


def plan(settings):
    p = orig(settings)
    p["privacy_epsilons"] = [1.0, 8.0]
    return p


demo.demo_plan = plan
out = demo.run_demo(demo.DemoSettings(quick=True, output_dir=sys.argv[1]), progress=False)
print("OUT", out)
