"""``radgen list`` and ``radgen version``: what is registered, and which versions run."""

from __future__ import annotations

import argparse


def register_list(sub) -> None:
    p = sub.add_parser("list", help="list registered datasets, models, or shipped configs")
    p.add_argument("what", choices=("datasets", "models", "configs", "features", "classifiers"))
    p.add_argument("-v", "--verbose", action="store_true", help="also show default paths and options")
    p.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    """``radgen list``: the registered datasets, models, shipped configs, feature extractors or classifiers."""
    from radgen.api import catalog

    rows = catalog(args.what)
    if args.what == "features":
        for r in rows:
            print(f"{r['name']:<16} {r['description']}")
    elif args.what == "models":
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            print(f"{r['name']:<{width}}  {r['description']}")
            if args.verbose and r["defaults"]:
                print(f"{'':<{width}}  preset of {r['preset_of']}: {r['defaults']}")
    elif args.what == "classifiers":
        print("judges (network + training settings; `radgen classify --classifier NAME`):")
        for r in (r for r in rows if r["kind"] == "judge"):
            print(f"  {r['name']:<10} {'*' if r['default'] else ' '} {r['description']}")
        print("networks:")
        for r in (r for r in rows if r["kind"] == "network"):
            print(f"  {r['name']:<10}   {r['description']}")
        print("\n* default judge of `radgen classify` and `radgen augment`.")
    elif args.what == "configs":
        for r in rows:
            print(f"{r['name']:<28} {r['description']}")
        print("\nTrain one with `radgen train NAME [--set key=value ...]`.")
    else:  # datasets
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            print(f"{r['name']:<{width}} {'*' if r['default'] else ' '} {r['description']}")
            if args.verbose:
                path = r["path"] or "(required: --path)"
                print(f"{'':<{width}}   path: {path}; options: {', '.join(r['options']) or 'none'}")
        print("\n* default dataset. Load one with radgen.data.load_dataset(NAME) or `radgen data inspect NAME`.")
    return 0


def register_version(sub) -> None:
    p = sub.add_parser("version", help="print versions")
    p.set_defaults(func=run_version)


def run_version(args: argparse.Namespace) -> int:
    """``radgen version``: radgen's, torch's and Python's versions."""
    from radgen.api import versions

    v = versions()
    print(f"radgen {v['radgen']} (torch {v['torch']}, python {v['python']})")
    return 0
