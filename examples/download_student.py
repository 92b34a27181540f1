"""Download a succeeded job's distilled student and its model card, verified by SHA-256.

    sdd up --detach --port 8000
    sdd login --url http://127.0.0.1:8000 --token "$(sdd token create --tenant me | tail -n 1)"
    python examples/download_student.py                 # the newest succeeded job
    python examples/download_student.py job_3f9c… --out students/

The weights are a safetensors state_dict: load them with ``safetensors`` and
``sdd_core.models.create_model(card["arch"], card["num_classes"])`` (or ``sdd evaluate --weights
… --card …``). Same from the command line: ``sdd jobs download <id> -o students/ --card``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from safetensors.numpy import load_file

from sdd_client import SDDClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job_id", nargs="?", help="Default: your newest succeeded job.")
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--out", type=Path, default=Path("students"))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()

    with SDDClient(args.url, args.token) as sdd:
        job_id = args.job_id or next((job.id for job in sdd.iter_jobs("succeeded")), None)
        if job_id is None:
            sys.exit("no succeeded job yet; run examples/submit_and_wait.py first")
        args.out.mkdir(parents=True, exist_ok=True)
        weights = sdd.download_student(job_id, args.out, overwrite=args.overwrite)  # raises on a bad checksum
        card = sdd.card(job_id)
    card_path = weights.with_suffix(".card.json")
    card_path.write_text(json.dumps(card, indent=2))

    tensors = load_file(str(weights))
    parameters = sum(tensor.size for tensor in tensors.values())
    print(f"saved {weights} (SHA-256 verified): {len(tensors)} tensors, {parameters:,} parameters")
    print(f"saved {card_path}: {card.get('arch')} on {(card.get('dataset') or {}).get('name')}")


if __name__ == "__main__":
    main()
